import { Cron } from 'croner';
import { z } from 'zod';

// The shape of cluster.yaml. Structure and per-field rules live here; rules that relate several fields (overlaps,
// uniqueness, quorum) live in rules.ts. Descriptions end up in cluster.schema.json, so editors show them.

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}\.?$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/;

const label = (what: string) =>
  z
    .string()
    .regex(RFC1123_LABEL, {
      message: `must be an RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (${what})`,
    });

const ipv4 = z.ipv4({ message: 'must be an IPv4 address such as 10.0.10.11' });
const cidrv4 = z.cidrv4({ message: 'must be an IPv4 CIDR such as 10.0.10.0/24' });
const hostOrIp = z
  .string()
  .min(1)
  .refine((v) => DNS_NAME.test(v) || z.ipv4().safeParse(v).success, {
    message: 'must be a host name or an IPv4 address',
  });
const dnsName = z.string().regex(DNS_NAME, { message: 'must be a DNS name such as k8s.example.org' });
const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' });
const port = z.number().int().min(1).max(65535);
const cron = z
  .string()
  .regex(/^(\S+\s+){4}\S+$/, { message: 'must be a five-field cron schedule such as "0 3 * * *"' })
  // Read as backup:status reads it (croner): a field out of range, or a date that never comes, is refused here.
  .refine((v) => !/^(\S+\s+){4}\S+$/.test(v) || cronRuns(v), { message: 'is not a cron schedule that ever runs (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7)' });
function cronRuns(schedule: string): boolean {
  try {
    return new Cron(schedule, { paused: true, timezone: 'UTC' }).nextRun() !== null;
  } catch {
    return false;
  }
}
const duration = z.string().regex(/^\d+[hdwy]$/, { message: 'must be a number and a unit h, d, w or y, such as 30d' });

const semver = (prefix: 'v' | '', example: string) =>
  z
    .string()
    .regex(prefix === 'v' ? /^v\d+\.\d+\.\d+$/ : /^\d+\.\d+\.\d+$/, {
      message:
        prefix === 'v'
          ? `must look like ${example} (with the leading "v")`
          : `must look like ${example} (three numbers, no leading "v")`,
    });

// ---------------------------------------------------------------------------------------------------------------
// Talos machine options: the install disk by selector, dual-stack, STATE/EPHEMERAL encryption, bonds and VLANs.
// Each renders into the Talos patches (configure/render.ts); the rules relating them live in config/machine-rules.ts.

const ipv6 = z.ipv6({ message: 'must be an IPv6 address such as fd00:10::11' });
const cidrv6 = z.cidrv6({ message: 'must be an IPv6 CIDR such as fd00:10::/64' });
const linkName = z.string().regex(/^[a-z][a-z0-9]{0,14}$/, { message: 'must be a Linux interface name such as eth1 (lowercase, at most 15 characters)' });

/** Talos `machine.install.diskSelector` (v1alpha1.InstallDiskSelector); every field given must match. */
export const InstallDiskSelectorSchema = z
  .strictObject({
    model: z.string().min(1).optional().describe('Disk model; glob patterns allowed, e.g. "QEMU HARDDISK" or "Samsung SSD 9*"'),
    size: z
      .string()
      .regex(/^(>=|<=|>|<|==)?\s*\d+(\.\d+)?\s*([kmgtpe]i?b?|b)?$/i, { message: 'must be a size with an optional comparison, such as "120GB", ">= 100GB" or "<= 2TiB"' })
      .optional()
      .describe('Size, optionally compared: "120GB", ">= 100GB", "<= 2TB"'),
    serial: z.string().min(1).optional().describe('Disk serial number'),
    wwid: z.string().min(1).optional().describe('World Wide Identifier, e.g. naa.5000c500a0b1c2d3'),
    type: z.enum(['ssd', 'hdd', 'nvme', 'sd'], { message: 'must be "ssd", "hdd", "nvme" or "sd"' }).optional().describe('Disk type'),
    busPath: z.string().startsWith('/').optional().describe('Bus path, e.g. /pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0'),
  })
  .refine((s) => Object.keys(s).length > 0, { message: 'an empty selector matches any disk; name at least one of model, size, serial, wwid, type, busPath' })
  .describe('Talos machine.install.diskSelector: the disk picked by its attributes instead of a path');

const Ipv6Schema = z
  .strictObject({
    nodeCidr: cidrv6.describe('IPv6 prefix of the node network (each node then sets nodes[].ipv6)'),
    gateway: ipv6.describe('IPv6 default gateway of the node network'),
    podCidr: cidrv6.default('fd00:10:244::/56').describe('IPv6 pod network, /48 to /63 (the controller manager hands each node a /64)'),
    serviceCidr: cidrv6.default('fd00:10:96::/112').describe('IPv6 Service network, /108 or longer'),
  })
  .describe('Dual-stack: IPv6 beside IPv4 for nodes, pods and Services; absent: IPv4 only');

const MachineSchema = z
  .strictObject({
    encryption: z
      .strictObject({
        key: z
          .enum(['nodeID', 'tpm'], { message: 'must be "nodeID" or "tpm"' })
          .default('nodeID')
          .describe('LUKS2 key: nodeID (derived from the node UUID; guards a disk taken away) or tpm (sealed by the VM\'s vTPM, which Terraform then adds; Talos binds it to the SecureBoot state, PCR 7)'),
        volumes: z
          .array(z.enum(['STATE', 'EPHEMERAL'], { message: 'must be "STATE" or "EPHEMERAL"' }))
          .min(1)
          .default(['STATE', 'EPHEMERAL'])
          .describe('System volumes to encrypt'),
      })
      .optional()
      .describe('Encrypt the STATE and EPHEMERAL volumes (Talos VolumeConfig documents); absent: unencrypted'),
    bond: z
      .strictObject({
        name: z.string().regex(/^bond\d{1,3}$/, { message: 'must look like bond0' }).default('bond0'),
        interfaces: z.array(linkName).min(2, { message: 'a bond needs at least two interfaces' }).describe('NICs of the bond; Terraform gives the VM one network device per entry (eth0, eth1, … in order)'),
        mode: z
          .enum(['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb'])
          .default('active-backup')
          .describe('Linux bonding mode; 802.3ad needs LACP on the switch'),
        miimon: z.number().int().min(0).default(100).describe('Link monitoring interval in ms'),
        lacpRate: z.enum(['slow', 'fast']).optional().describe('802.3ad only'),
        xmitHashPolicy: z.enum(['layer2', 'layer2+3', 'layer3+4', 'encap2+3', 'encap3+4']).optional().describe('balance-xor and 802.3ad only'),
      })
      .optional()
      .describe('Bond the node NICs; the node addresses, routes and VIP then sit on the bond'),
    vlan: z.number().int().min(1).max(4094).optional().describe('802.1Q VLAN id: the node addresses, routes and VIP sit on this VLAN of the link'),
  })
  .prefault({})
  .describe('Talos machine options for every node');

// ---------------------------------------------------------------------------------------------------------------
// Cilium ClusterMesh between clusters of this repository; rules in config/mesh-rules.ts (the peers' configs are read
// there, so both sides must agree).

const ClusterMeshSchema = z
  .strictObject({
    apiServerIp: ipv4.describe('LoadBalancer address of this cluster\'s clustermesh-apiserver (port 2379): inside network.loadBalancerCidr, or the node network without one'),
    peers: z
      .array(z.string().regex(/\.ya?ml$/, { message: 'must be the path of a cluster config (.yaml), relative to this file' }))
      .min(1, { message: 'a mesh needs at least one peer' })
      .describe('Config files of the other clusters, relative to this file (e.g. clusters/apps.yaml); each must list this one back'),
  })
  .describe('Cilium ClusterMesh with the peers\' clusters; absent: no mesh');

export const NodeSchema = z
  .strictObject({
    name: label('the node name becomes its hostname').describe('Node name and hostname (RFC 1123 label)'),
    role: z.enum(['controlplane', 'worker'], { message: 'must be "controlplane" or "worker"' }).describe('An odd number of control planes'),
    ip: ipv4.describe('Static address, baked into the Talos image through META key 10'),
    vmId: z.number().int().min(100).max(999_999_999).describe('Proxmox VM id (100 or more)'),
    cpu: z.number().int().min(2).default(2).describe('vCPUs (Talos needs at least 2)'),
    memoryMiB: z.number().int().min(2048).default(4096).describe('Memory in MiB (Talos needs at least 2048)'),
    diskGiB: z.number().int().min(10).default(32).describe('System disk in GiB'),
    installDisk: z.string().startsWith('/dev/').optional().describe('Disk Talos installs to, by path; default /dev/sda unless installDiskSelector is set'),
    installDiskSelector: InstallDiskSelectorSchema.optional(),
    ipv6: ipv6.optional().describe('Static IPv6 address (with the ipv6 section)'),
  })
  .describe('One Talos VM');

const RecordSchema = z.strictObject({
  name: z.string().min(1).describe('Relative to the zone ("api", "*", "@" for the apex) or a full name ending in "."'),
  type: z.enum(['A', 'AAAA', 'CNAME', 'TXT', 'NS', 'MX', 'SRV', 'CAA']),
  content: z.array(z.string().min(1)).min(1).or(z.string().min(1)),
  ttl: z.number().int().min(1).default(300),
});

export const ClusterConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path of cluster.schema.json, for editors'),
    cluster: z.strictObject({
      name: label('the cluster name names directories, Terraform workspaces and contexts').describe(
        'Cluster name: Flux path, Terraform workspace, state directory',
      ),
      id: z.number().int().min(1).max(255).describe('Cluster id 1-255 (Cilium cluster mesh id, VM id prefixes)'),
      domain: dnsName.default('cluster.local').describe('Kubernetes DNS domain'),
      role: z
        .enum(['infra', 'apps'], { message: 'must be "infra" (the shared platform) or "apps" (workloads)' })
        .default('infra')
        .describe('Which Flux tree the cluster runs: kubernetes/clusters/infra/flux (the shared platform) or kubernetes/clusters/apps/flux (workloads)'),
    }),
    versions: z.strictObject({
      talos: semver('v', 'v1.11.6').describe('Talos Linux version (image, installer, talosctl gen config)'),
      kubernetes: semver('', '1.34.1').describe('Kubernetes version (talosctl --kubernetes-version)'),
      cilium: semver('', '1.18.3').describe('Cilium Helm chart version, installed by the bootstrap'),
      flux: semver('v', 'v2.7.3').describe('Flux version for flux bootstrap --version'),
    }),
    network: z.strictObject({
      nodeCidr: cidrv4.describe('The L2 network of the VMs'),
      gateway: ipv4.describe('Default gateway of the node network'),
      dnsServers: z.array(ipv4).min(1, { message: 'needs at least one DNS server' }).describe('Upstream resolvers of the nodes'),
      podCidr: cidrv4.default('10.244.0.0/16').describe('Pod network; must not overlap nodeCidr or serviceCidr'),
      serviceCidr: cidrv4.default('10.96.0.0/12').describe('Service network; must not overlap nodeCidr or podCidr'),
      vip: ipv4.describe('Shared Kubernetes API address held by the control planes (Talos VIP)'),
      loadBalancerCidr: cidrv4
        .optional()
        .describe('Cilium LB IPAM pool for LoadBalancer Services; must sit inside nodeCidr (L2 announcements)'),
      loadBalancerIps: z
        .strictObject({
          ingress: ipv4.describe("The shared Gateway's address (HTTPS front door; the VPS forwards here)"),
          dns: ipv4.optional().describe("The in-cluster PowerDNS Service's address (nameserver glue, API); not with powerdns.external"),
          monitoring: ipv4
            .optional()
            .describe('VictoriaMetrics (remote write, :8428) and VictoriaLogs (insert, :9428) for the clusters that ship here (monitoring.receiveFrom); their monitoring.shipTo.address'),
        })
        .optional()
        .describe('Addresses pinned on their LoadBalancer Services, inside loadBalancerCidr: the only addresses DNS records and delegations may name'),
      interface: z.string().min(1).default('eth0').describe('Node network interface (net.ifnames=0 naming)'),
      mtu: z.number().int().min(1280).max(9000).default(1500).describe('MTU of the node interface'),
    }),
    nodes: z.array(NodeSchema).min(1, { message: 'needs at least one node' }),
    ipv6: Ipv6Schema.optional(),
    talos: MachineSchema,
    clusterMesh: ClusterMeshSchema.optional(),
    proxmox: z.strictObject({
      host: hostOrIp.describe('SSH and API host of the Proxmox server'),
      sshUser: z.string().min(1).default('root').describe('SSH user on the Proxmox host (pveum, pvesm)'),
      sshPort: port.default(22),
      node: z.string().min(1).describe('Proxmox node name (as in `pvesh get /nodes`)'),
      storage: z.string().min(1).describe('Storage for VM disks, e.g. local-lvm'),
      imageStorage: z.string().min(1).default('local').describe('Storage that accepts ISO/disk-image downloads'),
      bridge: z.string().min(1).default('vmbr0').describe('Bridge the VMs attach to'),
      apiUrl: httpUrl.optional().describe('Default: https://<host>:8006/'),
      insecure: z.boolean().default(false).describe('Accept a self-signed API certificate'),
    }),
    imageFactory: z
      .strictObject({
        url: httpUrl.default('https://factory.talos.dev').describe('Talos Image Factory'),
        extensions: z.array(z.string().regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/, { message: 'must look like siderolabs/qemu-guest-agent' })).default(['siderolabs/qemu-guest-agent']),
        extraKernelArgs: z
          .array(z.string().regex(/^[A-Za-z0-9_.-]+(=\S+)?$/, { message: 'must be one kernel argument such as "mitigations=off" (name[=value], no spaces)' }))
          .default([])
          .describe('Kernel arguments baked into the Image Factory schematic (the UKI) and machine.install.extraKernelArgs'),
      })
      .prefault({}),
    github: z.strictObject({
      owner: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, { message: 'must be a GitHub user or organisation name' }),
      repository: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, { message: 'must be a repository name without the owner' }),
      branch: z.string().min(1).default('main').describe('Branch Flux reads (must hold the pushed commit)'),
      path: z.string().optional().describe('Flux path in the repository; default kubernetes/clusters/<cluster.name>'),
      personal: z.boolean().default(true).describe('The owner is a user, not an organisation'),
    }),
    ssh: z
      .strictObject({
        identityFile: z.string().optional().describe('Private key; default: the SSH agent, then ~/.ssh/id_ed25519'),
        knownHostsFile: z.string().default('~/.ssh/known_hosts'),
        connectTimeoutMs: z.number().int().min(100).default(10_000),
        connectAttempts: z.number().int().min(1).max(10).default(4).describe('Connection attempts on transient failures (refused, reset, timeout), with backoff'),
      })
      .prefault({}),
    headscale: z
      .strictObject({
        host: hostOrIp.describe('SSH host running the headscale server'),
        sshUser: z.string().min(1).default('root'),
        sshPort: port.default(22),
        loginServer: httpUrl.describe('Headscale URL the nodes log in to'),
        user: z.string().min(1).optional().describe('Headscale user owning the cluster nodes'),
        tag: z.string().regex(/^tag:[a-z0-9-]+$/, { message: 'must look like tag:cluster-router' }).optional(),
        nodes: z.array(z.string().min(1)).optional().describe('Headscale node names that route for the cluster; default: all cluster node names'),
        routes: z.array(cidrv4).optional().describe('Routes to approve; default: nodeCidr and loadBalancerCidr'),
      })
      .optional()
      .describe('Approve subnet routes on a Headscale server; absent: phase off'),
    powerdns: z
      .strictObject({
        apiUrl: httpUrl.optional().describe('PowerDNS HTTP API; default http://<network.loadBalancerIps.dns>:8081'),
        serverId: z.string().min(1).default('localhost'),
        zone: dnsName.describe('Zone served by the in-cluster PowerDNS (with external: the zone on that server this cluster publishes into)'),
        external: z
          .strictObject({
            apiUrl: httpUrl.describe("The other cluster's PowerDNS API, by address: http://<its network.loadBalancerIps.dns>:8081"),
            domain: dnsName
              .optional()
              .describe("This cluster's host names: the Gateway's listeners, its certificate, what external-dns may write; inside zone, never the zone itself. Default <cluster.name>.<zone>"),
          })
          .optional()
          .describe(
            'PowerDNS runs in another cluster (infra): none runs here; external-dns publishes records and cert-manager answers DNS-01 challenges through that API, in the same zone under this cluster\'s own domain (no delegation needed). The API key is PDNS_API_KEY, sealed for this cluster',
          ),
        nameserver: z
          .strictObject({
            name: dnsName.optional().describe('Default ns1.<zone>'),
            ip: ipv4.optional().describe('Default network.loadBalancerIps.dns; an address inside the LB pool must be that one (the pinned Service)'),
          })
          .prefault({}),
        apiSourceRanges: z
          .array(cidrv4)
          .min(1)
          .optional()
          .describe('Client networks allowed to reach the API on its LoadBalancer address (loadBalancerSourceRanges); default network.nodeCidr'),
        records: z.array(RecordSchema).default([]),
        dnsPort: port.default(53).describe('DNS port of the in-cluster server (at nameserver.ip), queried to verify the records'),
        delegation: z
          .strictObject({
            host: hostOrIp.describe('SSH host of the VPS serving the parent zone'),
            sshUser: z.string().min(1).default('root'),
            sshPort: port.default(22),
            parentZone: dnsName,
            pdnsutil: z.array(z.string().min(1)).default(['pdnsutil']).describe('Command prefix, e.g. [docker, exec, powerdns, pdnsutil]'),
            ttl: z.number().int().min(1).default(3600),
            dnsPort: port.default(53).describe('DNS port of the parent zone server (at host), queried to verify the delegation'),
          })
          .optional(),
      })
      .optional()
      .describe('Zones and records on PowerDNS; absent: phase off'),
    vps: z
      .strictObject({
        host: hostOrIp.describe('SSH host of the VPS (its PowerDNS and nginx)'),
        sshUser: z.string().min(1).default('root'),
        sshPort: port.default(22),
        publicIp: ipv4.describe('Address the internet connects to; the public names and the nameserver glue point here'),
        nameserver: dnsName.describe('Public nameserver name of the VPS, e.g. ns1.example.org; the parent zone delegates the cluster zone to it'),
        tailnetIp: ipv4.describe('Tailnet address of the VPS: the in-cluster PowerDNS allows AXFR only from it and sends it NOTIFY'),
        publicNames: z
          .array(z.string().regex(/^(\*|@|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*)$/, { message: 'must be "*", "@" or a name relative to the zone such as grafana' }))
          .min(1)
          .default(['*'])
          .describe('Names (relative to powerdns.zone) reachable from the internet: A records to publicIp and SNI passthrough; "*" = every name'),
        dnsPort: port.default(53).describe('DNS port of the VPS PowerDNS (secondary of the cluster zone)'),
        pdnsutil: z.array(z.string().min(1)).default(['pdnsutil']).describe('Command prefix on the VPS, e.g. [docker, exec, powerdns, pdnsutil]'),
        nginx: z
          .strictObject({
            command: z.array(z.string().min(1)).default(['nginx']).describe('nginx command prefix on the VPS (gets -t and -s reload)'),
            file: z
              .string()
              .regex(/^\/.+\.conf$/, { message: 'must be an absolute path ending in .conf' })
              .default('/etc/nginx/modules-enabled/99-home-ops-sni.conf')
              .describe('The one file this tool owns: a top-level stream {} block (Debian includes modules-enabled/*.conf at top level)'),
            listen: port.default(443).describe('Port nginx stream listens on for TLS (passthrough, never terminated)'),
            ingressPort: port.default(443).describe('HTTPS port of the ingress (network.loadBalancerIps.ingress)'),
            fallback: z
              .string()
              .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { message: 'must be host:port, e.g. 127.0.0.1:8443' })
              .optional()
              .describe('Where other TLS names go (the VPS\'s own HTTPS sites, moved off the listen port); absent: other names are refused'),
          })
          .prefault({}),
      })
      .optional()
      .describe('Public entry through a VPS: secondary DNS of powerdns.zone and SNI passthrough to the ingress; absent: phase off'),
    proxmoxCsi: z
      .strictObject({
        user: z.string().regex(/^[^@\s]+@[a-z0-9]+$/, { message: 'must look like kubernetes-csi@pve' }).default('kubernetes-csi@pve'),
        role: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .refine((v) => !/^pve/i.test(v), { message: 'must not start with "PVE" (Proxmox reserves those role names)' })
          .default('CSI'),
        tokenName: z.string().regex(/^[A-Za-z][A-Za-z0-9._-]*$/).default('csi'),
        region: z.string().min(1).optional().describe('Topology region; default the cluster name'),
        storage: z.string().min(1).optional().describe('Proxmox storage for volumes; default proxmox.storage'),
        storageClass: label('StorageClass name').default('proxmox-csi'),
      })
      .optional()
      .describe('Proxmox CSI API token and its sealed Secret; absent: phase off'),
    backups: z
      .strictObject({
        s3: z.strictObject({
          endpoint: httpUrl.describe('S3-compatible endpoint, e.g. https://s3.eu-central-1.amazonaws.com or a MinIO/Garage URL'),
          bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'must be an S3 bucket name (3-63 lowercase letters, digits, dots, dashes)' }),
          region: z.string().min(1).default('us-east-1'),
          prefix: z.string().regex(/^[A-Za-z0-9._/-]*$/).optional().describe('Key prefix; default the cluster name'),
        }),
        etcdSchedule: cron.default('0 3 * * *').describe('When the in-cluster etcd snapshot runs (CronJob schedule)'),
        vaultSchedule: cron.default('30 3 * * *').describe('When the Vault Raft snapshot runs (CronJob schedule)'),
        databases: z
          .strictObject({
            enabled: z.boolean().default(true).describe('false: no database backups (etcd and Vault snapshots still run)'),
            schedule: cron.default('0 3 * * *').describe('When the base backups run (five fields like etcdSchedule; CloudNativePG gets it with a leading seconds field 0)'),
            retention: z
              .string()
              .regex(/^[1-9][0-9]*[dwm]$/, { message: 'must look like 30d, 4w or 3m' })
              .default('30d')
              .describe('How long base backups and WAL are kept (Barman retention policy)'),
          })
          .prefault({})
          .describe('PostgreSQL backups of the app databases (CloudNativePG, Barman Cloud plugin) with WAL archiving, to the same target under `<prefix>/postgres/<database cluster>/`; on with the backups section (clusters of role infra, which run the databases)'),
      })
      .optional()
      .describe('Scheduled etcd and Vault snapshots (encrypted) and database backups, to one S3-compatible target (credentials and passphrase in .env); absent: no scheduled backups'),
    monitoring: z
      .strictObject({
        metrics: z
          .strictObject({
            retention: duration.default('30d').describe('How long VictoriaMetrics keeps samples (retentionPeriod)'),
            storageGiB: z.number().int().min(1).default(20).describe('Volume size of VictoriaMetrics (Proxmox CSI)'),
          })
          .prefault({}),
        logs: z
          .strictObject({
            retention: duration.default('14d').describe('How long VictoriaLogs keeps log lines (-retentionPeriod)'),
            storageGiB: z.number().int().min(1).default(20).describe('Volume size of VictoriaLogs (Proxmox CSI)'),
            talosPort: port.default(6050).describe('Port on each node (127.0.0.1) where Fluent Bit receives the Talos service logs (machine.logging)'),
          })
          .prefault({}),
        alerts: z
          .strictObject({
            receiver: z
              .enum(['none', 'webhook', 'matrix'], {
                message: 'must be "none" (alerts only in the UI), "webhook" (URL in .env ALERT_WEBHOOK_URL) or "matrix" (the room in alerts.matrix, token in .env ALERT_MATRIX_ACCESS_TOKEN)',
              })
              .default('none')
              .describe(
                'Where Alertmanager sends alerts: "webhook" posts to ALERT_WEBHOOK_URL from .env (sealed into the tree); "matrix" posts to the room of alerts.matrix through matrix-alertmanager-receiver (access token ALERT_MATRIX_ACCESS_TOKEN from .env, sealed); "none" leaves them in the Alertmanager UI',
              ),
            matrix: z
              .strictObject({
                homeserver: z
                  .url({ protocol: /^https$/, message: 'must be an https:// URL such as https://matrix.example.org' })
                  .describe('Client-server API of the homeserver the alert account is on (HTTPS on port 443)'),
                userId: z
                  .string()
                  .regex(/^@[^:\s"]+:[^\s"]+$/, { message: 'must be a Matrix user id such as "@alerts:example.org" (quote it in YAML)' })
                  .describe('The account that posts the alerts; its access token is ALERT_MATRIX_ACCESS_TOKEN in .env'),
                room: z
                  .string()
                  .regex(/^![^:\s"]+:[^\s"]+$/, { message: 'must be a Matrix room id such as "!AbCdEf:example.org" (quote it in YAML; Room settings → Advanced)' })
                  .describe('Room id the alerts go to; the account joins it (invite it first to a private room)'),
              })
              .optional()
              .describe('With receiver "matrix": where the alerts go'),
          })
          .prefault({}),
        shipTo: z
          .strictObject({
            cluster: label('the receiving cluster').describe("The cluster that stores this one's metrics and logs (its tree is kubernetes/clusters/<cluster>)"),
            address: ipv4.describe("That cluster's network.loadBalancerIps.monitoring: vmagent writes to :8428, Fluent Bit to :9428"),
          })
          .optional()
          .describe('Ship instead of store: vmagent and Fluent Bit here, labelled cluster=<cluster.name>, send to another cluster; no VictoriaMetrics, VictoriaLogs, Grafana or Alertmanager here (metrics, logs.retention/storageGiB and alerts are not used)'),
        receiveFrom: z
          .array(cidrv4)
          .min(1)
          .optional()
          .describe('Node networks of the clusters that ship here (their monitoring.shipTo): the loadBalancerSourceRanges of VictoriaMetrics and VictoriaLogs on network.loadBalancerIps.monitoring'),
      })
      .optional()
      .describe('Metrics (VictoriaMetrics), logs (VictoriaLogs, Fluent Bit) and alerts (vmalert, Alertmanager), or with shipTo only the agents that send them to another cluster; absent: the stack is left out'),
  })
  .describe('One cluster: everything the bootstrap, the Terraform layers and the Flux tree read');

export type ClusterConfigInput = z.input<typeof ClusterConfigSchema>;
export type ParsedConfig = z.output<typeof ClusterConfigSchema>;
export type NodeConfig = z.output<typeof NodeSchema>;
