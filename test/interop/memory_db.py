"""An in-memory stand-in for Trove's database API, for the interop test.

Trove reaches its database only through ``trove.db.get_db_api()``, which
imports the module named by ``CONF.db_api_implementation`` (normally
``trove.db.sqlalchemy.api``). Pointing that option at this module is the one
substitution the interop scripts make: every model class stays Trove's own
(``DBInstance`` and its ``key`` property, ``DBBackup``, ``LastSeen``,
``InstanceServiceStatus``), only the rows live in a list instead of MySQL.

Rows are kept as the model objects themselves, as a SQLAlchemy session would
hand them back, and every ``save`` is journaled so a caller can show what
Trove's code wrote.
"""

import copy

_rows = []
_saves = []
# Callables told of every lookup: (model class, conditions, row or None).
observers = []


def _matches(row, conditions):
    return all(getattr(row, name, None) == value for name, value in conditions.items())


def find_by(model, **conditions):
    found = next((row for row in _rows if isinstance(row, model) and _matches(row, conditions)), None)
    for observe in observers:
        observe(model, conditions, found)
    return found


def save(model):
    if not any(row is model for row in _rows):
        _rows.append(model)
    _saves.append((type(model).__name__, copy.copy(vars(model))))
    return model


def saves_since(index):
    """The (model name, attributes) pairs saved since the journal had ``index`` entries."""
    return _saves[index:]


def journal_length():
    return len(_saves)


def __getattr__(name):
    # Anything else Trove's code asks of its database shows up as a loud
    # failure naming the function, rather than as a silent wrong answer.
    if name.startswith('__'):
        raise AttributeError(name)

    def unsupported(*_args, **_kwargs):
        raise NotImplementedError('the interop memory DB does not implement trove.db API %r' % name)

    return unsupported
