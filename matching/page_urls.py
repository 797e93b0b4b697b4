"""The matching pages (the API's routes are in matching/nearby/urls.py and matching/experiments/urls.py)."""
from django.urls import path

from matching.nearby import pages as nearby_pages

urlpatterns = [
    path("people/", nearby_pages.people_nearby, name="people-nearby"),
]
