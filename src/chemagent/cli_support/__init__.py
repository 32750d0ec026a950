"""The machinery of the ``chemagent query`` command (the commands are in ``chemagent.cli``).

``ask`` runs a query in-process or against a server, ``progress`` draws its steps,
``report`` prints the outcome and picks the exit code, ``output`` holds the consoles.
"""
