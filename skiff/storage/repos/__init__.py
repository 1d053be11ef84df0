"""Repositories: functions taking a Connection, one module per aggregate."""
