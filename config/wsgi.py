import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A web request scores a few hundred candidates: an intra-op thread pool only adds wake-ups, and with
# several workers per core the pools' spinning threads fight each other (measured: nearby 3× slower).
# Set before torch and numpy load; the environment can still ask for more.
os.environ.setdefault("OMP_NUM_THREADS", "1")
application = get_wsgi_application()
