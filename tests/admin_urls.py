"""The demo site's URLs plus the second admin site under /staff/.

``admin.site`` stays mounted under /admin/, so a URL reversed without the right
``current_app`` lands there, not on /staff/.
"""

from django.urls import path

from testproject.urls import urlpatterns as demo_urlpatterns
from tests.admin_site import site

urlpatterns = [path("staff/", site.urls), *demo_urlpatterns]
