"""The options of `faceforge gui`."""

from __future__ import annotations

from faceforge.options.common import LOG_OPTIONS
from faceforge.options.spec import Option, OptionSet, positive_int

GUI_OPTIONS = OptionSet("gui", (
    Option("workspace", ("-w", "--workspace"), "the folder the GUI works in: sources, faces, "
           "models, outputs and jobs (created if needed); nothing outside it is read or "
           "written", "workspace", str, metavar="FOLDER", group="server"),
    Option("port", ("-p", "--port"), "the port to serve on", 7860, positive_int,
           group="server"),
    Option("listen", ("--listen",), "the address to serve on; anything but loopback needs "
           "--auth (the safe way to reach a remote server is an SSH tunnel)", "127.0.0.1", str,
           metavar="ADDRESS", group="server"),
    Option("auth", ("--auth",), "a password for the GUI (default: a new access token, printed "
           "in the URL at each start)", None, str, metavar="SECRET", group="server"),
    Option("max_upload_mb", ("--max-upload-mb",), "the largest file an upload may be, in MB",
           4096, positive_int, group="server"),
    *LOG_OPTIONS,
))
