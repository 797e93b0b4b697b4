"""The matching pages (the API's routes are in matching/nearby/urls.py and matching/experiments/urls.py)."""

from django.urls import path

from matching.experiments import pages as experiment_pages
from matching.nearby import pages as nearby_pages

urlpatterns = [
    path("people/", nearby_pages.people_nearby, name="people-nearby"),
    path("experiments/", experiment_pages.experiment_list, name="experiment-list-page"),
    path("experiments/new/", experiment_pages.experiment_create, name="experiment-create-page"),
    path("experiments/<int:pk>/", experiment_pages.experiment_detail, name="experiment-detail-page"),
    path("experiments/<int:pk>/start/", experiment_pages.experiment_start, name="experiment-start-page"),
    path("experiments/<int:pk>/stop/", experiment_pages.experiment_stop, name="experiment-stop-page"),
]
