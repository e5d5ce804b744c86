/**
 * Java stack traces nodetool prints after `-- StackTrace --` (exit code 2). The frames are the
 * captured ones (nt_flush_after_drain, nt_flush_nosuchtable, nt_snapshot_after_drain,
 * nt_snapshot_bk1_again, nt_clearsnapshot_*, nt_snapshot_kt_and_ks); for failures that were not
 * captured the Cassandra frames follow the 4.0 source with the same JMX/RMI tail.
 */

/**
 * Server side: the JMX/RMI dispatch every remote call goes through, from MBean reflection to the RMI
 * thread. The reflective call into RMIConnectionImpl.invoke shows as NativeMethodAccessorImpl while
 * the JVM is fresh and as a generated accessor once it has been called more than
 * sun.reflect.inflationThreshold (15) times, which is why the captured traces differ there.
 */
const RMI_TAIL_HEAD = [
  'sun.reflect.misc.Trampoline.invoke(MethodUtil.java:72)',
  'jdk.internal.reflect.GeneratedMethodAccessor3.invoke(Unknown Source)',
  'java.base/jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(DelegatingMethodAccessorImpl.java:43)',
  'java.base/java.lang.reflect.Method.invoke(Method.java:569)',
  'java.base/sun.reflect.misc.MethodUtil.invoke(MethodUtil.java:262)',
  'java.management/com.sun.jmx.mbeanserver.StandardMBeanIntrospector.invokeM2(StandardMBeanIntrospector.java:112)',
  'java.management/com.sun.jmx.mbeanserver.StandardMBeanIntrospector.invokeM2(StandardMBeanIntrospector.java:46)',
  'java.management/com.sun.jmx.mbeanserver.MBeanIntrospector.invokeM(MBeanIntrospector.java:237)',
  'java.management/com.sun.jmx.mbeanserver.PerInterface.invoke(PerInterface.java:138)',
  'java.management/com.sun.jmx.mbeanserver.MBeanSupport.invoke(MBeanSupport.java:252)',
  'java.management/com.sun.jmx.interceptor.DefaultMBeanServerInterceptor.invoke(DefaultMBeanServerInterceptor.java:814)',
  'java.management/com.sun.jmx.mbeanserver.JmxMBeanServer.invoke(JmxMBeanServer.java:802)',
  'java.management.rmi/javax.management.remote.rmi.RMIConnectionImpl.doOperation(RMIConnectionImpl.java:1472)',
  'java.management.rmi/javax.management.remote.rmi.RMIConnectionImpl$PrivilegedOperation.run(RMIConnectionImpl.java:1310)',
  'java.management.rmi/javax.management.remote.rmi.RMIConnectionImpl.doPrivilegedOperation(RMIConnectionImpl.java:1405)',
  'java.management.rmi/javax.management.remote.rmi.RMIConnectionImpl.invoke(RMIConnectionImpl.java:829)',
];
const RMI_DISPATCH_COLD = [
  'java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)',
  'java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke(NativeMethodAccessorImpl.java:77)',
];
const RMI_DISPATCH_WARM = ['java.base/jdk.internal.reflect.GeneratedMethodAccessor10.invoke(Unknown Source)'];
const RMI_TAIL_END = [
  'java.base/jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(DelegatingMethodAccessorImpl.java:43)',
  'java.base/java.lang.reflect.Method.invoke(Method.java:569)',
  'java.rmi/sun.rmi.server.UnicastServerRef.dispatch(UnicastServerRef.java:360)',
  'java.rmi/sun.rmi.transport.Transport$1.run(Transport.java:200)',
  'java.rmi/sun.rmi.transport.Transport$1.run(Transport.java:197)',
  'java.base/java.security.AccessController.doPrivileged(AccessController.java:712)',
  'java.rmi/sun.rmi.transport.Transport.serviceCall(Transport.java:196)',
  'java.rmi/sun.rmi.transport.tcp.TCPTransport.handleMessages(TCPTransport.java:587)',
  'java.rmi/sun.rmi.transport.tcp.TCPTransport$ConnectionHandler.run0(TCPTransport.java:828)',
  'java.rmi/sun.rmi.transport.tcp.TCPTransport$ConnectionHandler.lambda$run$0(TCPTransport.java:705)',
  'java.base/java.security.AccessController.doPrivileged(AccessController.java:399)',
  'java.rmi/sun.rmi.transport.tcp.TCPTransport$ConnectionHandler.run(TCPTransport.java:704)',
  'java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)',
  'java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:635)',
  'java.base/java.lang.Thread.run(Thread.java:840)',
];

/** JMX invocations after which the RMI dispatch frames show the inflated (generated) accessor. */
const INFLATION_THRESHOLD = 15;

function rmiTail(warm: boolean): string[] {
  return [...RMI_TAIL_HEAD, ...(warm ? RMI_DISPATCH_WARM : RMI_DISPATCH_COLD), ...RMI_TAIL_END];
}

/**
 * How the MBean method itself was reached: natively for its first calls, then through a generated
 * accessor (the captured flush traces show GeneratedMethodAccessor23, the snapshot ones the native path).
 */
function mbeanAccessor(warm: boolean, accessorNumber: number): string[] {
  const entry = warm
    ? [`jdk.internal.reflect.GeneratedMethodAccessor${accessorNumber}.invoke(Unknown Source)`]
    : ['java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)', 'java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke(NativeMethodAccessorImpl.java:77)'];
  return [...entry, 'java.base/jdk.internal.reflect.DelegatingMethodAccessorImpl.invoke(DelegatingMethodAccessorImpl.java:43)', 'java.base/java.lang.reflect.Method.invoke(Method.java:569)'];
}

const REJECTED_FLUSH = [
  'org.apache.cassandra.concurrent.DebuggableThreadPoolExecutor$1.rejectedExecution(DebuggableThreadPoolExecutor.java:72)',
  'java.base/java.util.concurrent.ThreadPoolExecutor.reject(ThreadPoolExecutor.java:833)',
  'java.base/java.util.concurrent.ThreadPoolExecutor.execute(ThreadPoolExecutor.java:1365)',
  'org.apache.cassandra.concurrent.DebuggableThreadPoolExecutor.execute(DebuggableThreadPoolExecutor.java:176)',
  'org.apache.cassandra.db.ColumnFamilyStore.waitForFlushes(ColumnFamilyStore.java:936)',
  'org.apache.cassandra.db.ColumnFamilyStore.forceFlush(ColumnFamilyStore.java:902)',
  'org.apache.cassandra.db.ColumnFamilyStore.forceBlockingFlush(ColumnFamilyStore.java:942)',
];

const CLIENT_TAIL = [
  'org.apache.cassandra.tools.NodeTool$NodeToolCmd.runInternal(NodeTool.java:358)',
  'org.apache.cassandra.tools.NodeTool$NodeToolCmd.run(NodeTool.java:343)',
  'org.apache.cassandra.tools.NodeTool.execute(NodeTool.java:246)',
  'org.apache.cassandra.tools.NodeTool.main(NodeTool.java:84)',
];

/** Cassandra frames of server-side failures, keyed by what failed (the JMX/RMI tail is added by serverFrames). */
const SERVER_HEADS = {
  flushAfterDrain: [...REJECTED_FLUSH, 'org.apache.cassandra.service.StorageService.forceKeyspaceFlush(StorageService.java:3969)'],
  flushUnknownTable: [
    'org.apache.cassandra.db.Keyspace.getColumnFamilyStore(Keyspace.java:222)',
    'org.apache.cassandra.db.Keyspace.getValidColumnFamilies(Keyspace.java:739)',
    'org.apache.cassandra.service.StorageService.getValidColumnFamilies(StorageService.java:3955)',
    'org.apache.cassandra.service.StorageService.forceKeyspaceFlush(StorageService.java:3966)',
  ],
  snapshotAfterDrain: [
    ...REJECTED_FLUSH,
    'org.apache.cassandra.db.ColumnFamilyStore.snapshot(ColumnFamilyStore.java:2027)',
    'org.apache.cassandra.db.ColumnFamilyStore.snapshot(ColumnFamilyStore.java:2005)',
    'org.apache.cassandra.db.Keyspace.snapshot(Keyspace.java:258)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3770)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3678)',
  ],
  tableSnapshotAfterDrain: [
    ...REJECTED_FLUSH,
    'org.apache.cassandra.db.ColumnFamilyStore.snapshot(ColumnFamilyStore.java:2027)',
    'org.apache.cassandra.db.ColumnFamilyStore.snapshot(ColumnFamilyStore.java:2005)',
    'org.apache.cassandra.db.Keyspace.snapshot(Keyspace.java:258)',
    'org.apache.cassandra.service.StorageService.takeMultipleTableSnapshot(StorageService.java:3838)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3674)',
  ],
  snapshotExists: [
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3764)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3678)',
  ],
  tableSnapshotExists: [
    'org.apache.cassandra.service.StorageService.takeMultipleTableSnapshot(StorageService.java:3822)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3674)',
  ],
  snapshotWithoutName: [
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3744)',
    'org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3678)',
  ],
  compactAfterDrain: [
    'org.apache.cassandra.concurrent.DebuggableThreadPoolExecutor$1.rejectedExecution(DebuggableThreadPoolExecutor.java:72)',
    'java.base/java.util.concurrent.ThreadPoolExecutor.reject(ThreadPoolExecutor.java:833)',
    'java.base/java.util.concurrent.ThreadPoolExecutor.execute(ThreadPoolExecutor.java:1365)',
    'org.apache.cassandra.concurrent.DebuggableThreadPoolExecutor.execute(DebuggableThreadPoolExecutor.java:176)',
    'java.base/java.util.concurrent.AbstractExecutorService.submit(AbstractExecutorService.java:123)',
    'org.apache.cassandra.db.compaction.CompactionManager.submitMaximal(CompactionManager.java:938)',
    'org.apache.cassandra.db.compaction.CompactionManager.performMaximal(CompactionManager.java:900)',
    'org.apache.cassandra.db.ColumnFamilyStore.forceMajorCompaction(ColumnFamilyStore.java:2431)',
    'org.apache.cassandra.service.StorageService.forceKeyspaceCompaction(StorageService.java:3929)',
  ],
  compactUnknownTable: [
    'org.apache.cassandra.db.Keyspace.getColumnFamilyStore(Keyspace.java:222)',
    'org.apache.cassandra.db.Keyspace.getValidColumnFamilies(Keyspace.java:739)',
    'org.apache.cassandra.service.StorageService.getValidColumnFamilies(StorageService.java:3955)',
    'org.apache.cassandra.service.StorageService.forceKeyspaceCompaction(StorageService.java:3927)',
  ],
} as const;

export type ServerFailure = keyof typeof SERVER_HEADS;

/** The MBean operation each failure happens in, and the number its generated accessor gets. */
const OPERATION_OF: Record<ServerFailure, readonly [string, number]> = {
  flushAfterDrain: ['forceKeyspaceFlush', 23],
  flushUnknownTable: ['forceKeyspaceFlush', 23],
  snapshotAfterDrain: ['takeSnapshot', 27],
  tableSnapshotAfterDrain: ['takeSnapshot', 27],
  snapshotExists: ['takeSnapshot', 27],
  tableSnapshotExists: ['takeSnapshot', 27],
  snapshotWithoutName: ['takeSnapshot', 27],
  compactAfterDrain: ['forceKeyspaceCompaction', 31],
  compactUnknownTable: ['forceKeyspaceCompaction', 31],
};

export function operationOf(failure: ServerFailure): string {
  return OPERATION_OF[failure][0];
}

/**
 * The frames of a server-side failure. `operationCalls`: how often the JVM has run this MBean
 * operation; `invokeCalls`: how many JMX operations (RMIConnectionImpl.invoke) it has served.
 * Past INFLATION_THRESHOLD each reflective call shows as a generated accessor.
 */
export function serverFrames(failure: ServerFailure, operationCalls: number, invokeCalls: number): string[] {
  const [, accessor] = OPERATION_OF[failure];
  return [...SERVER_HEADS[failure], ...mbeanAccessor(operationCalls > INFLATION_THRESHOLD, accessor), ...rmiTail(invokeCalls > INFLATION_THRESHOLD)];
}

/** Client-side failures inside the nodetool command's execute(). */
export const CLIENT_FRAMES = {
  clearSnapshotWithoutTag: ['org.apache.cassandra.tools.nodetool.ClearSnapshot.execute(ClearSnapshot.java:50)', ...CLIENT_TAIL],
  clearSnapshotTagAndAll: ['org.apache.cassandra.tools.nodetool.ClearSnapshot.execute(ClearSnapshot.java:53)', ...CLIENT_TAIL],
  snapshotKtAndKeyspaces: ['org.apache.cassandra.tools.nodetool.Snapshot.execute(Snapshot.java:75)', ...CLIENT_TAIL],
  snapshotTableNeedsOneKeyspace: [
    'org.apache.cassandra.tools.NodeProbe.takeSnapshot(NodeProbe.java:847)',
    'org.apache.cassandra.tools.nodetool.Snapshot.execute(Snapshot.java:94)',
    ...CLIENT_TAIL,
  ],
} as const;

/** The stderr of a failed nodetool call: `error: <msg>`, `-- StackTrace --`, the root cause, a blank line. */
export function formatJavaError(javaClass: string, message: string, frames: readonly string[]): string {
  return `error: ${message}\n-- StackTrace --\n${javaClass}: ${message}\n${frames.map((f) => `\tat ${f}\n`).join('')}\n`;
}
