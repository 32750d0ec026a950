"""gunicorn settings for running ChemAgent from this repository: ``gunicorn -c gunicorn.conf.py
'chemagent.app:create_app()'``. The settings live in the package (``chemagent serve
--workers N`` uses the same ones); see src/chemagent/gunicorn_config.py."""

from chemagent.gunicorn_config import *  # noqa: F403
