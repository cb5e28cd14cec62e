# Light on purpose: the pool runtime imports xiaozhi_hub.masking without
# Django or Celery. The Celery app is loaded in HubConfig.ready() instead.
