"""What every domain's endpoints share: JSON responses, body parsing and long-polling, the error shapes and the
handler that turns errors into them, the body-size guard, and the ``AppServices`` dependency.

Low in the layers: it knows no domain. The app that assembles the domains' routers is :mod:`sentinel.api.app`.
"""
