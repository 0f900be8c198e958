"""Running untrusted submissions: a child process per submission, data-only replies, remote handles.

* :class:`IsolatedImplementation` - the :class:`~vicheck.implementation.Implementation` for a submission
  file (``.py`` or ``.ipynb``) run in a child process under :class:`~vicheck.implementation.Limits`;
* :class:`RemoteObject` - the grader's stand-in for an object that stays in the child;
* :func:`vicheck.sandbox.notebook.load_notebook_in_process` - the same notebook executor, in this process.
"""

from vicheck.sandbox.parent import IsolatedImplementation, RemoteAttributeError, RemoteObject

__all__ = ["IsolatedImplementation", "RemoteAttributeError", "RemoteObject"]
