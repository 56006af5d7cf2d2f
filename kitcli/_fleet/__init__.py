"""The fleet: many projects read at once, for ``kit fleet`` and ``kit catalog``.

Private to the kit. :mod:`.entries` turns command-line sources (project directories,
directories of projects, manifests, git URLs, published status files) into entries;
:mod:`.projects` reads one local project into a :class:`~.rows.Row`; :mod:`.drift` finds its
divergence from the template quickly, with one shared render per template version;
:mod:`.statusfile` reads and writes the status files a project's CI publishes; :mod:`.report`
renders a fleet as Markdown and as one self-contained HTML file.
"""
