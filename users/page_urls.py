"""The users pages (the API's routes are in users/urls.py)."""

from django.urls import path

from users import pages

urlpatterns = [
    path("signup/", pages.signup, name="signup"),
    path("welcome/", pages.onboarding_start, name="onboarding-start"),
    path("welcome/<slug:step>/", pages.onboarding, name="onboarding"),
    path("me/profile/", pages.profile, name="profile"),
    path("me/profile/<slug:section>/", pages.profile_section, name="profile-section"),
    path("me/location/", pages.location, name="location"),
    path("people/<int:person_id>/wave/", pages.person_wave, name="person-wave-page"),
    path("people/<int:person_id>/like/", pages.person_like, name="person-like-page"),
    path("people/<int:person_id>/block/", pages.person_block, name="person-block-page"),
    path("people/<int:person_id>/unblock/", pages.person_unblock, name="person-unblock-page"),
    path("people/<int:person_id>/report/", pages.person_report, name="person-report-page"),
]
