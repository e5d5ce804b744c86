#!/usr/bin/env node
/**
 * The control plane's side: backup-create, backup-list, backup-show,
 * backup-delete and create --backup talk to guest agents over RabbitMQ. They
 * arrive with the agent; this entry point already answers --help.
 */
const HELP = `Usage: dbaas <command> [options]

Control-plane commands (talk to guest agents over RabbitMQ):
  backup-create    ask an instance's agent for a backup
  backup-list      list backups
  backup-show      show one backup
  backup-delete    delete a backup
  create --backup  create an instance restored from a backup

Not available in this version: the RPC layer they need is not built yet.
Use 'guest-agent backup' and 'guest-agent restore' on the node meanwhile.
`;

const [command] = process.argv.slice(2);
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(HELP);
  process.exitCode = command === undefined ? 2 : 0;
} else {
  process.stderr.write(`dbaas ${command}: not available in this version (needs the RPC layer); see 'dbaas --help'\n`);
  process.exitCode = 2;
}
