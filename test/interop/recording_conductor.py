"""Trove's conductor Manager, with a record of every report it handled.

``RecordingManager`` is ``trove.conductor.manager.Manager`` itself: each RPC
method passes its arguments, untouched, to the Manager's own method and only
writes down what happened around it - the arguments as the conductor's
serializer decoded them, what Trove's code wrote to the (in-memory) database,
what it logged (``older than last seen. Discarding.``, ID mismatches) and the
notifications it emitted - as one JSON line on stdout per call.
"""

import copy
import json
import logging
import sys
import threading

from trove.common import notification
from trove.conductor import manager as conductor_manager

import memory_db

# Green-thread local once eventlet has patched threading, as in trove-conductor.
_call = threading.local()
_emit_lock = threading.Lock()


def emit(event):
    line = json.dumps(event, default=str, sort_keys=True)
    with _emit_lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()


def _current():
    return getattr(_call, 'record', None)


class LogCapture(logging.Handler):
    """Trove's and oslo's log records: into the call being handled, else as events of their own."""

    def emit(self, record):
        entry = {'logger': record.name, 'level': record.levelname, 'message': record.getMessage()}
        if record.exc_info and record.exc_info[1] is not None:
            entry['exception'] = '%s: %s' % (type(record.exc_info[1]).__name__, record.exc_info[1])
        current = _current()
        if current is not None and record.name.startswith('trove'):
            current['logs'].append(entry)
        elif record.levelno >= logging.WARNING and record.name.startswith(('trove', 'oslo_messaging')):
            emit(dict(entry, event='log'))


def _record_notification(notice, qualifier):
    # trove-conductor registers persist_instance_fault here; this records instead.
    current = _current()
    entry = {'event_type': 'dbaas.%s.%s' % (notice.event_type(), qualifier), 'payload': copy.deepcopy(notice.payload)}
    if current is not None:
        current['notifications'].append(entry)
    else:
        emit(dict(entry, event='notification'))


notification.DBaaSAPINotification.register_notify_callback(_record_notification)


def _context_summary(context):
    values = context.to_dict() if hasattr(context, 'to_dict') else dict(context or {})
    summary = {k: values.get(k) for k in ('request_id', 'project_id', 'instance_id')}
    summary['has_auth_token'] = bool(values.get('auth_token'))
    if hasattr(context, 'notification'):
        summary['notification'] = type(context.notification).__name__
    return summary


def _outcome(record):
    if record.get('error'):
        return 'error'
    messages = [entry['message'] for entry in record['logs']]
    if any('older than last seen' in m for m in messages):
        return 'discarded'
    if any(entry['level'] in ('ERROR', 'CRITICAL') for entry in record['logs']):
        return 'rejected'
    return 'processed'


class RecordingManager(conductor_manager.Manager):

    def heartbeat(self, context, **kwargs):
        return self._run('heartbeat', context, kwargs)

    def update_backup(self, context, **kwargs):
        return self._run('update_backup', context, kwargs)

    def report_root(self, context, **kwargs):
        return self._run('report_root', context, kwargs)

    def notify_end(self, context, **kwargs):
        return self._run('notify_end', context, kwargs)

    def notify_exc_info(self, context, **kwargs):
        return self._run('notify_exc_info', context, kwargs)

    def _run(self, method, context, kwargs):
        record = {
            'event': 'call',
            'method': method,
            # The Manager pops keys out of serialized_notification: keep what arrived.
            'args': copy.deepcopy(kwargs),
            'context': _context_summary(context),
            'logs': [],
            'notifications': [],
        }
        journal = memory_db.journal_length()
        _call.record = record
        try:
            return getattr(super(), method)(context, **kwargs)
        except Exception as err:
            record['error'] = '%s: %s' % (type(err).__name__, err)
            raise
        finally:
            _call.record = None
            record['saved'] = [dict(fields, model=model) for model, fields in memory_db.saves_since(journal)]
            record['outcome'] = _outcome(record)
            emit(record)
