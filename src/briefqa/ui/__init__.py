"""The interfaces: the ``briefqa`` command line and the Gradio chat, with the chat's feedback file.

They call the library (``api``, ``ingestion``, ``evaluation``) and hold no pipeline logic of their own;
nothing below imports them. Only this package imports Gradio. ``env`` sets the offline switches for the
programs that run briefqa, never for a library user.

May import: everything.
"""
