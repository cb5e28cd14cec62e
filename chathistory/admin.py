# Admin registrations arrive with the models (see models.py).
