"""townsquare: the backend engine for creator and social-commerce apps.

The domain lives in :mod:`townsquare.core`; adapters in :mod:`townsquare.adapters`;
:func:`townsquare.bootstrap.bootstrap` wires them for a ``PORTS_MODE``.
"""

__version__ = "0.1.0"
