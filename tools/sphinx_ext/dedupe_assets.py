"""Sphinx extension: drop repeated <script>/<link> assets from each page.

With jupyter-book 1.0.4 and Sphinx 7.4, sphinx-thebe and sphinx-togglebutton
register their inline configuration scripts twice (once with filename None, once
with filename ""), so every page declared
``const THEBE_JS_URL`` twice and raised a JavaScript SyntaxError. Keep the first
copy of each identical asset.
"""


def _key(asset):
    attributes = getattr(asset, "attributes", {}) or {}
    return (str(getattr(asset, "filename", asset) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def dedupe(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        assets = context.get(name)
        if not assets:
            continue
        seen, unique = set(), []
        for asset in assets:
            key = _key(asset)
            if key not in seen:
                seen.add(key)
                unique.append(asset)
        context[name] = unique


def setup(app):
    app.connect("html-page-context", dedupe, priority=1000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
