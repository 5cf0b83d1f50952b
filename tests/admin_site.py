"""A second admin site, made after the app's ready() (when tests.admin_urls is imported)."""

from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from dbsessions.admin import SessionAdmin, extend_user_admin
from dbsessions.models import Session

site = AdminSite(name="staff")
site.register(get_user_model(), UserAdmin)
site.register(Session, SessionAdmin)
extend_user_admin(site)
