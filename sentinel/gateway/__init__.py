"""The OpenAI-compatible generation gateway: ``/v1/images/generations`` and ``/v1/models``."""
