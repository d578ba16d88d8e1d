"""Wire-faithful local fakes of the outside world (YooKassa, Telegram, Google Calendar, SMTP).

``sandbox.kit`` is what every fake shares, ``sandbox.registry`` lists them, ``sandbox.runner``
starts them (``praktika-sandbox``), ``sandbox.testing`` serves them inside a test's event loop.
"""
