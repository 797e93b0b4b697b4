from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import HealthApi
from users import pages as user_pages

api_patterns = [
    path("", include("users.urls")),
    path("", include("matching.ranking.urls")),
    path("", include("activities.urls")),
    path("", include("matching.nearby.urls")),
    path("", include("matching.experiments.urls")),
    path("", include("matching.urls")),
    path("health/", HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    # First: Django tries the patterns in order, and every "" include the API path falls through costs a
    # resolve of all its patterns on the busiest requests. No page path starts with "api/".
    path("api/", include(api_patterns)),
    path("", user_pages.home, name="home"),
    # Before django.contrib.auth's own: the same login, rate-limited and case-insensitive like the API's.
    path("accounts/login/", user_pages.login_page, name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("users.page_urls")),
    path("", include("activities.page_urls")),
    path("", include("matching.page_urls")),
    path("admin/", admin.site.urls),
]
