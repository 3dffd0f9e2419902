"""Names that are used where vulture cannot see it. `./dev lint` passes this file to vulture
after the code it checks; the file is read, never run.

Vulture matches names, not objects: a line here marks its last name used wherever that name is
defined, so keep each line to a name some framework or reader really uses, and say which.
Pytest fixtures are left out by `ignore_decorators` in pyproject.toml's [tool.vulture].
"""

# ruff: noqa: B018, F821  (bare names are the format vulture reads)

# The standard library calls these hooks by name on our subclasses.
HTMLParser.handle_starttag  # index_html, fetch_wheels: the anchor parsers
HTMLParser.handle_data
BaseHTTPRequestHandler.do_GET  # tests' loopback indexes: "do_" + the request's method
BaseHTTPRequestHandler.do_HEAD
BaseHTTPRequestHandler.log_message  # silenced
BaseHTTPRequestHandler.protocol_version  # HTTP/1.1 keep-alive
BaseHTTPRequestHandler.close_connection  # ends a keep-alive connection (fault_index)
ThreadingHTTPServer.daemon_threads
ThreadingHTTPServer.handle_error
ThreadingHTTPServer.RequestHandlerClass  # tests/loopback.py swaps the handler
client_address  # handle_error's protocol argument, unused by our quiet overrides
trace  # __exit__'s protocol argument (background.py)

# Poetry loads the plugin from the entry point plugin_wheel.py writes, and calls activate.
ProjectPluginCachePlugin.activate
application  # activate's protocol argument

# Pytest reads these by name.
pytestmark
pytest_collection_modifyitems  # tests/conftest.py: the `real` marker of *_real.py files
isolated_home  # requested by test_act's session fixture so that HOME is isolated first

# Records kept for the people who read them.
Manifest.built_at  # manifest.json: when the build was published
RealProject.license  # tests/real_projects.py: why each project may be fetched for the tests
