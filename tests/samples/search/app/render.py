"""Rendering pages as HTML."""

import html


def render_table(rows, columns):
    """Render rows of data as an HTML table with a header row of column names."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in columns) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def escape_attribute(value):
    """Escape a value for an HTML attribute."""
    return html.escape(value, quote=True)
