"""Requests to the running pool over the control bus (endpoints/control.py).

These are not writes: a reload after a configuration change, a reconnect, a
health check, a probe through the load balancer, a test call of a tool. The
pool answers wherever it runs (Celery workers or `runhub`).
"""
