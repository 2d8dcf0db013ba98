"""okr-service write side: the OKR domain and the application that runs its commands."""
