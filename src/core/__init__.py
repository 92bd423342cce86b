"""The pure domain core: models, rules, services and the ports they need.

Nothing here imports a database driver, a web framework or a broker; adapters and hosts
plug into the protocols defined in the ``ports`` modules.
"""
