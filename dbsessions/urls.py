"""URLs of the "your sessions" page: ``path("account/sessions/", include("dbsessions.urls"))``."""

from django.urls import path

from dbsessions import views

app_name = "dbsessions"

urlpatterns = [
    path("", views.user_sessions, name="user_sessions"),
    path("end/", views.end_session, name="end_session"),
    path("end-others/", views.end_other_sessions, name="end_other_sessions"),
]
