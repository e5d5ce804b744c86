#!/usr/bin/python3
"""Trove's own control-plane code, driving and listening to a guest agent.

Run with Debian's python3-trove 18 and python3-oslo.messaging 14
(``/usr/bin/python3``). Two roles, each configured by a JSON file (it holds
the broker password and instance keys: the caller writes it 0600):

``conductor CONFIG``
    ``trove.conductor.manager.Manager`` behind the same oslo.messaging RPC
    server trove-conductor runs (``trove.common.rpc.service.RpcService``
    with ``ConductorHostSerializer``, which looks each instance's key up to
    decrypt its reports). Prints one JSON line per report handled (see
    recording_conductor.py), ``ready`` once consuming, and ``stopped`` at
    the end: on SIGTERM/SIGINT or after ``max_seconds``, whichever is first.

    {"transport_url", "conductor_topic", "max_seconds",
     "instances": [{"id", "key" (null: plaintext), "tenant_id"}],
     "backups": [{"id", "instance_id", "tenant_id", "name"}]}

``guest CONFIG``
    ``trove.guestagent.api.API``, the client trove-taskmanager uses, for
    one instance: runs the steps in order, one JSON line each
    (``{"op", "ok", "result" | "error"}``), and exits within ``max_seconds``.

    {"transport_url", "instance_id", "key" (null: plaintext), "max_seconds",
     "context": {"auth_token", "project_id", "request_id"},
     "steps": [{"op": "rpc_ping"}, {"op": "get_filesystem_stats"},
               {"op": "call_unknown", "method"},
               {"op": "create_backup", "backup_info"},
               {"op": "prepare", "backup": {"id", "instance_id", "location",
                                            "backup_type", "checksum"}}]}

What is not Trove's code, all of it beside the messaging path:
- The database. ``CONF.db_api_implementation`` names memory_db (in this
  directory) instead of trove.db.sqlalchemy.api, so the rows Trove's models
  read and write - ``DBInstance`` (whose ``key`` property the key lookups of
  ``API.get_client``, ``API._create_guest_queue`` and
  ``ConductorHostSerializer`` use), ``DBBackup``, ``LastSeen``,
  ``InstanceServiceStatus`` - live in memory. The rows are created with the
  models' own constructors as Trove's API would; an instance's RPC key is
  stored encrypted with ``inst_rpc_key_encr_key``, as DBInstance stores it.
- The conductor's endpoint is a subclass of Trove's Manager that calls the
  Manager's methods unchanged and records around them, and the notification
  callback trove-conductor registers (``persist_instance_fault``, a DB write)
  is one that records the notification instead.
- The taskmanager and API are not run: their part of a request (the
  context's notification, backup_info) is built here the way they build it.
Nothing on the messaging or serialization path (oslo.messaging, Trove's
SecureSerializer / ConductorHostSerializer, TroveContext) is replaced or
patched. Configuration only sets what a trove.conf would.
"""

# Eventlet monkey patching first, exactly as every Trove binary does.
import trove.cmd  # noqa: F401

import argparse
import json
import os
import signal
import sys
import tempfile
import time

from eventlet import event as eventlet_event

# No __pycache__ beside the test sources.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def emit(event):
    sys.stdout.write(json.dumps(event, default=str, sort_keys=True) + '\n')
    sys.stdout.flush()


def load_config(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def configure(settings, secure, conductor_topic='trove-conductor'):
    """oslo.config as trove.conf would set it, then trove.rpc.init as Trove's services do."""
    from trove.common import cfg

    # transport_url and the oslo_messaging_rabbit options are registered only
    # when the transport is built, so they go in through a config file.
    # rabbit_transient_queues_ttl only shortens the life of the reply and
    # fanout queues (uuid names) this process leaves behind.
    lines = [
        '[DEFAULT]',
        'transport_url = %s' % settings['transport_url'],
        'control_exchange = openstack',
        'enable_secure_rpc_messaging = %s' % ('true' if secure else 'false'),
        'conductor_queue = %s' % conductor_topic,
        'db_api_implementation = memory_db',
        'report_interval = 0',
        '[oslo_messaging_rabbit]',
        'rabbit_transient_queues_ttl = 60',
        '[oslo_messaging_notifications]',
        'driver = noop',
    ]
    fd, path = tempfile.mkstemp(prefix='trove-interop-', suffix='.conf')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        cfg.CONF(args=['--config-file', path], project='trove', default_config_files=[])
    finally:
        os.unlink(path)

    import logging
    from recording_conductor import LogCapture
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(LogCapture())

    from trove import rpc
    rpc.init(cfg.CONF)
    return cfg.CONF


def add_instance(conf, instance_id, key, tenant_id):
    """A DBInstance row holding the instance's RPC key as Trove stores it (encrypted with inst_rpc_key_encr_key)."""
    from trove.common import crypto_utils
    from trove.instance import models as inst_models
    from trove.instance import service_status
    from trove.instance.tasks import InstanceTasks

    instance = inst_models.DBInstance.create(
        id=instance_id, name=instance_id, tenant_id=tenant_id, task_status=InstanceTasks.NONE)
    instance.encrypted_key = (
        crypto_utils.encode_data(crypto_utils.encrypt_data(key, conf.inst_rpc_key_encr_key)) if key else None)
    instance.save()
    inst_models.InstanceServiceStatus.create(instance_id=instance_id, status=service_status.ServiceStatuses.NEW)


def add_backup(backup):
    """A DBBackup row in state NEW, as trove.backup.models.Backup.create leaves it before casting."""
    from trove.backup.models import BackupState, DBBackup

    fields = {name: None for name in DBBackup._data_fields}
    fields.update(
        id=backup['id'], name=backup.get('name', backup['id']), description=None,
        tenant_id=backup['tenant_id'], instance_id=backup['instance_id'],
        state=BackupState.NEW, deleted=False)
    DBBackup.create(**fields)


def stop_on_signals():
    stopping = eventlet_event.Event()

    def handler(signum, _frame):
        if not stopping.ready():
            stopping.send(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stopping


def run_conductor(settings):
    conf = configure(settings, secure=True, conductor_topic=settings['conductor_topic'])
    for instance in settings['instances']:
        add_instance(conf, instance['id'], instance.get('key'), instance.get('tenant_id', 'tenant'))
    for backup in settings.get('backups', []):
        add_backup(backup)

    from trove.common.rpc import conductor_host_serializer
    from trove.common.rpc import service as rpc_service
    from trove.conductor import api as conductor_api
    from trove.instance.models import DBInstance
    import memory_db

    def key_lookups(model, conditions, row):
        # Only ConductorHostSerializer reads DBInstance here (through
        # get_instance_encryption_key, which caches): once per instance whose
        # report named it in csz-instance-id.
        if model is DBInstance:
            emit({'event': 'key_lookup', 'instance_id': conditions.get('id'), 'found': row is not None,
                  'has_key': row is not None and row.encrypted_key is not None})

    memory_db.observers.append(key_lookups)

    # What trove/cmd/conductor.py builds; report_interval = 0 so start() returns.
    service = rpc_service.RpcService(
        key=None, manager='recording_conductor.RecordingManager', topic=conf.conductor_queue,
        rpc_api_version=conductor_api.API.API_LATEST_VERSION,
        secure_serializer=conductor_host_serializer.ConductorHostSerializer)
    stopping = stop_on_signals()
    service.start()
    emit({'event': 'ready', 'topic': conf.conductor_queue, 'server': conf.host,
          'queues': [conf.conductor_queue, '%s.%s' % (conf.conductor_queue, conf.host)]})

    reason = stopping.wait(timeout=float(settings.get('max_seconds', 80))) or 'max_seconds'
    emit({'event': 'stopped', 'reason': reason})
    service.rpcserver.stop()


def notification_context(context, kind, **payload):
    """The context's notification as trove-taskmanager holds it when it calls the guest."""
    from trove.common import notification

    base = dict(request_id=context.request_id, server_type='taskmanager', tenant_id=context.project_id,
                client_ip='192.0.2.10', server_ip='192.0.2.1', **payload)
    context.notification = getattr(notification, kind)(context, **base)
    return context


def run_guest(settings):
    conf = configure(settings, secure=bool(settings.get('key')))
    instance_id = settings['instance_id']
    add_instance(conf, instance_id, settings.get('key'), settings['context'].get('project_id', 'tenant'))

    from oslo_messaging.rpc.client import RemoteError
    from trove.common.context import TroveContext
    from trove.common.notification import EndNotification
    from trove.guestagent import api as guest_api

    def new_context():
        return TroveContext(**settings['context'])

    def error_of(err):
        error = {'class': type(err).__name__, 'module': type(err).__module__, 'message': str(err)}
        if isinstance(err, RemoteError):
            error.update(exc_type=err.exc_type, value=err.value)
        return error

    def step(op, spec):
        api = guest_api.API(new_context(), instance_id)
        if op == 'rpc_ping':
            return api.rpc_ping()
        if op == 'get_filesystem_stats':
            # API.get_volume_info is the taskmanager's name for the guest's get_filesystem_stats.
            return api.get_volume_info()
        if op == 'call_unknown':
            # Through the API's own RPC client (its serializers, its target) but
            # without _call's wrapping into GuestError, to see oslo's exception.
            return api.client.prepare(version=api.API_BASE_VERSION, timeout=api.agent_low_timeout).call(
                api.context, spec['method'])
        if op == 'create_backup':
            info = spec['backup_info']
            notification_context(api.context, 'DBaaSBackupCreate', name=info.get('name'), instance_id=instance_id,
                                 description=info.get('description'), parent_id=None)
            # trove.taskmanager.manager.Manager.create_backup
            with EndNotification(api.context, backup_id=info['id']):
                api.create_backup(info)
            return None
        if op == 'prepare':
            backup = spec.get('backup')
            # trove.taskmanager.models.FreshInstanceTasks.create_instance builds it from the DBBackup row.
            backup_info = None if backup is None else {
                'id': backup['id'], 'instance_id': backup['instance_id'], 'location': backup['location'],
                'type': backup['backup_type'], 'checksum': backup['checksum']}
            notification_context(api.context, 'DBaaSInstanceCreate', name=instance_id, flavor_id='f1',
                                 datastore='cassandra', datastore_version='4.0', image_id='i1',
                                 availability_zone='nova', region_name='RegionOne')
            # trove.taskmanager.manager.Manager.create_instance
            with EndNotification(api.context, instance_id=instance_id):
                api.prepare(spec.get('memory_mb', 2048), spec.get('packages', 'cassandra'), [], [],
                            device_path='/dev/vdb', mount_point='/var/lib/cassandra', backup_info=backup_info,
                            config_contents=None, root_password=None, overrides={}, cluster_config=None,
                            snapshot=None, modules=None, ds_version='4.0')
            return None
        raise ValueError('unknown step %r' % op)

    for spec in settings['steps']:
        op = spec['op']
        started = time.monotonic()
        try:
            outcome = {'ok': True, 'result': step(op, spec)}
        except Exception as err:
            outcome = {'ok': False, 'error': error_of(err)}
        emit(dict(outcome, op=op, seconds=round(time.monotonic() - started, 3)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('role', choices=['conductor', 'guest'])
    parser.add_argument('config', help='JSON file (0600: it holds the broker URL and instance keys)')
    options = parser.parse_args()
    settings = load_config(options.config)
    # A hard bound whatever happens inside oslo: the process never outlives it.
    signal.alarm(int(settings.get('max_seconds', 80)) + 15)
    started = time.monotonic()
    if options.role == 'conductor':
        run_conductor(settings)
    else:
        run_guest(settings)
    sys.stderr.write('%s finished in %.1f s\n' % (options.role, time.monotonic() - started))
    # oslo's transport threads are not daemons; the work is done and reported.
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
