"""booking's adapters: tables, repositories, external clients."""
