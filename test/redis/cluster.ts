import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type RedisServerProcess,
  rawCommand,
  sparePort,
  startRedisServer,
  waitFor,
} from './redis-server.js';

export interface RedisClusterProcess {
  /** `redis://127.0.0.1:<port>` of each master. */
  urls: string[];
  /** `redis+cluster://127.0.0.1:<port>,…` for createRedisStore. */
  clusterUrl: string;
  /** Stops every server and removes the temporary directory. */
  stop(): Promise<void>;
}

const CLUSTER_BUS_OFFSET = 10000;

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} failed (${code}): ${output}`)),
    );
  });
}

/**
 * Starts a real 3-master Redis Cluster from the `redis-server` binary on spare ports in a temp
 * directory, joins it with `redis-cli --cluster create`, and waits for `cluster_state:ok` on
 * every node. Everything is stopped and removed by `stop()`, and also when starting fails.
 */
export async function startRedisCluster(): Promise<RedisClusterProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionkeeper-cluster-'));
  const servers: RedisServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let k = 0; k < 3; k++) {
      const port = await sparePort(CLUSTER_BUS_OFFSET);
      servers.push(
        await startRedisServer({
          dir,
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...addresses,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    for (const server of servers) {
      await waitFor(`cluster_state:ok on port ${server.port}`, async () =>
        (await rawCommand(server.port, 'CLUSTER INFO')).includes('cluster_state:ok'),
      );
    }
    return {
      urls: servers.map((server) => server.url),
      clusterUrl: `redis+cluster://${addresses.join(',')}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
