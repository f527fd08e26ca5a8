"""The HTTP API: FastAPI routes over the command service and the read models.

Entry points only translate: parse a request, call one command or query, render the result
or the refusal. No rule of the product lives here.
"""
