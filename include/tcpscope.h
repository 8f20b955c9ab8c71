/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcpscope ABI: what the BPF programs and userspace share. Plain data only:
 * map keys and values, ring-buffer events, counters, the state enum (and
 * the one accessor that gives a packed field its meaning, tcps_ep_win).
 * Bump TCPS_ABI_VERSION whenever a layout here changes; pinned maps carry it.
 */
#ifndef TCPSCOPE_H
#define TCPSCOPE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>		/* struct bpf_spin_lock */
#endif

#define TCPS_ABI_VERSION 10

#ifndef TCPS_MAX_CONNS_DEFAULT
#define TCPS_MAX_CONNS_DEFAULT 262144
#endif
/* Unanswered SYNs live in their own preallocated table so a flood fills
 * only it, never evicting an established connection (DESIGN §1): by
 * default a sixteenth of the main table (`run --max-halfopen`), 16 at
 * least. A quarter was ~55 of the 253 bytes of kernel memory a connection
 * at 1M; when it is full, a real client's SYN+ACK still creates its entry. */
#ifndef TCPS_HALFOPEN_DIV
#define TCPS_HALFOPEN_DIV 16
#endif
#define tcps_halfopen_default(max_conns) \
	((max_conns) / TCPS_HALFOPEN_DIV < 16 ? 16 : (max_conns) / TCPS_HALFOPEN_DIV)
#ifndef TCPS_RINGBUF_BYTES
#define TCPS_RINGBUF_BYTES (4 << 20)
#endif

/* TCP states, numbered as the kernel's include/net/tcp_states.h so they
 * compare directly with ss, /proc/net/tcp and sock:inet_sock_set_state.
 * An endpoint we have no state for is CLOSE, as netstat/ss would show it. */
enum tcps_state {
	TCPS_ESTABLISHED = 1,
	TCPS_SYN_SENT,
	TCPS_SYN_RECV,
	TCPS_FIN_WAIT1,
	TCPS_FIN_WAIT2,
	TCPS_TIME_WAIT,
	TCPS_CLOSE,
	TCPS_CLOSE_WAIT,
	TCPS_LAST_ACK,
	TCPS_LISTEN,
	TCPS_CLOSING,
	TCPS_STATE_MAX,		/* one past the last state */
};

/* TCP header flag bits as they appear in byte 13 of the header. */
enum tcps_tcp_flag {
	TCPS_FIN = 0x01,
	TCPS_SYN = 0x02,
	TCPS_RST = 0x04,
	TCPS_PSH = 0x08,
	TCPS_ACK = 0x10,
	TCPS_URG = 0x20,
	TCPS_ECE = 0x40,
	TCPS_CWR = 0x80,
};

enum tcps_family {
	TCPS_AF_INET = 4,
	TCPS_AF_INET6 = 6,
};

/* Canonical 4-tuple: side 0 is the (addr, port) that sorts lower, so both
 * directions of a connection find the same entry. IPv4 uses addr[i][0]. */
struct tcps_key {
	__u32 addr[2][4];	/* network byte order */
	__u16 port[2];		/* network byte order */
	__u8 family;		/* enum tcps_family */
	__u8 pad[3];
};

/* tcps_ep.flags */
enum tcps_ep_flag {
	TCPS_EP_SENT = 0x01,	/* we have seen this endpoint send (snd_nxt valid) */
	TCPS_EP_ACKED = 0x02,	/* it has sent an ACK (ack_sent valid) */
	TCPS_EP_FIN = 0x04,	/* it has sent a FIN (fin_seq valid) */
	TCPS_EP_ISN = 0x08,	/* its ISN is known */
	TCPS_EP_WSCALE = 0x10,	/* it offered window scaling in its SYN */
	TCPS_EP_FINREJ = 0x20,	/* a FIN of it was refused (fin_seq holds it) */
	TCPS_EP_HOLE = 0x40,	/* the bytes below its snd_nxt may not all have
				 * arrived (tcps_ep_sent) */
	TCPS_EP_SACKOK = 0x80,	/* SACK-permitted on its SYN */
};

/* What the state machine knows of one endpoint, all from its own packets. */
struct tcps_ep {
	__u32 isn;		/* initial sequence number */
	__u32 snd_nxt;		/* highest seq + len (+SYN/FIN) it sent */
	__u32 fin_seq;		/* sequence number of its FIN */
	__u32 ack_sent;		/* highest ack it sent: its rcv_nxt as seen */
	__u32 wl1;		/* seq of the segment that set its window (RFC 9293 SND.WL1) */
	__u8 state;		/* enum tcps_state */
	__u8 flags;		/* enum tcps_ep_flag */
	__u8 wscale;		/* window shift it announced */
	__u8 win_shift;		/* shift tcps_fsm.win[i] was scaled by (0: a SYN's, or unscaled) */
};

/* tcps_fsm.flags */
enum tcps_conn_flag {
	TCPS_C_NEW = 0x01,	/* created by this packet, FSM not yet run */
	TCPS_C_MIDSTREAM = 0x02,	/* first packet seen was not a SYN */
	TCPS_C_LOCAL0 = 0x04,	/* host mode: side 0 is the local endpoint */
	TCPS_C_LOCAL1 = 0x08,	/* host mode: side 1 is the local endpoint */
	TCPS_C_ORIG1 = 0x10,	/* side 1 sent the first SYN (else side 0) */
	TCPS_C_SEEN0 = 0x20,	/* side 0 has been seen sending */
	TCPS_C_SEEN1 = 0x40,	/* side 1 has been seen sending */
	TCPS_C_WSCALE = 0x80,	/* both SYNs carried window scale: shifts apply */
};

/* Everything the pure state machine reads and writes. */
struct tcps_fsm {
	struct tcps_ep ep[2];
	/* Side i's last window as the segment carried it: in bytes,
	 * win[i] << ep[i].win_shift (tcps_ep_win). Kept as the wire's 16 bits
	 * and apart from ep[] so the state machine is 56 bytes and a slot of
	 * the slim table 104 (tcps_slots.h). */
	__u16 win[2];
	__u8 flags;		/* enum tcps_conn_flag */
	__u8 holds;		/* idle timeouts the kernel vouched for since the last transition (user/gc.c) */
	__u16 evseq;		/* sequence number of its last transition event */
};

/* Side i's last window, in bytes, as its segment's shift scaled it. */
static inline __attribute__((always_inline)) __u32 tcps_ep_win(const struct tcps_fsm *f, int i)
{
	return (__u32)f->win[i & 1] << f->ep[i & 1].win_shift;
}

/* tcps_health.flags */
enum tcps_health_flag {
	TCPS_H_HS_SYN = 0x01,	/* handshake: SYN seen, hs_t is its time */
	TCPS_H_HS_SYNACK = 0x02,	/* SYN+ACK seen, hs_t is its time */
	TCPS_H_HS_DONE = 0x04,	/* hs_us[] complete */
};

/* tcps_health.sflags[i] */
enum tcps_health_side {
	TCPS_HS_TSMARK = 0x01,	/* mark[i] is a TSval (else a sequence number) */
	TCPS_HS_ZWIN = 0x02,	/* side i's last window was zero */
};

/*
 * Health of one connection, from the wire (tcps_health.h). Times are taken
 * at the hook. Per-side arrays are indexed by the canonical side that SENT
 * the segments: rtt*[i] times side i's segments to the peer and back (the
 * echo of its TSval, or the ACK of its data), so in host mode rtt*[local]
 * is the network RTT, as the local socket's `ss -i rtt:` sees it. Each
 * per-side field is written by one direction only (no lock).
 */
struct tcps_health {
	__u64 trans_ns[2];	/* time of side i's last transition (event clock) */
	__u32 hs_us[2];		/* handshake at the hook: [0] SYN -> SYN+ACK, [1] SYN+ACK -> ACK */
	__u32 mark[2];		/* side i's timed TSval, or end sequence of its timed data */
	__u32 mark_t[2];	/* µs stamp of mark's first sighting; 0 idle, 1 resync */
	__u32 srtt_us[2];	/* RFC 6298 smoothed (alpha 1/8); 0: no sample yet */
	__u32 rtt_min_us[2];
	__u32 rtt_us[2];	/* latest sample */
	__u32 retrans[2];	/* segments of side i that carried nothing new */
	__u32 retrans_bytes[2];
	__u16 ooo[2];		/* segments of side i beyond its highest sequence (a gap) */
	__u16 dupacks[2];	/* duplicate ACKs sent by side i */
	__u16 zwin[2];		/* zero-window episodes: side i advertised window 0 */
	__u8 flags;		/* enum tcps_health_flag */
	__u8 pad;
	__u8 sflags[2];		/* enum tcps_health_side, written by side i only */
};

/* Value of the connection maps. fsm.ep[*].state only changes under lock;
 * the per-direction counters and sequence bookkeeping of an ESTABLISHED
 * connection are updated without it (each written by one direction only). */
struct tcps_conn {
	struct bpf_spin_lock lock;
	struct tcps_fsm fsm;
	__u32 last_tick;	/* last packet, in ticks of last_seen's clock (tcps_tick) */
	/* Health only from here: absent from the maps with health off. */
	__u64 first_seen;	/* ns, CLOCK_MONOTONIC (or capture time in replay):
				 * when this life of the tuple began */
	__u64 last_seen;	/* the same clock: the last packet. With health
				 * off, readers rebuild it from last_tick
				 * (tcps_tick_last_ns) to a tick's precision */
	__u32 ifindex;		/* interface the connection was first seen on */
	__u32 hs_t;		/* µs stamp of the pending handshake phase */
	__u64 pkts[2];		/* packets sent by side i */
	__u64 bytes[2];		/* TCP payload bytes sent by side i */
	struct tcps_health h;
};

/* The two value sizes of tcps_conns and tcps_halfopen. With health off
 * (`run --no-health`) the loader creates them ending before first_seen:
 * the lock, the state machine and the last tick seen, 64 bytes instead of
 * 216, a 104-byte slot instead of 256, 118.9 bytes a connection at the
 * table's load of 7/8 (conntrack keeps no counters without
 * nf_conntrack_acct and no start time without nf_conntrack_timestamp
 * either). BPF programs touch what follows only when health is on;
 * userspace reads values of the map's size into a zeroed struct tcps_conn
 * and shows the counters, the interface and the age as unknown. */
#define TCPS_CONN_SIZE_FULL ((__u32)sizeof(struct tcps_conn))
#define TCPS_CONN_SIZE_SLIM ((__u32)__builtin_offsetof(struct tcps_conn, first_seen))
_Static_assert(sizeof(struct tcps_fsm) == 56, "the state machine is 56 bytes");
_Static_assert(__builtin_offsetof(struct tcps_conn, first_seen) == 64, "the slim value is 64 bytes");

/* tcps_conn.last_tick: last_seen's clock in units of 2^24 ns (16.8 ms),
 * a u32 that wraps after 2.28 years; readers take it relative to a "now"
 * of the same clock, so an age is exact to a tick up to 1.14 years
 * (tcps_tick_last_ns in tcps_expire.h). */
#define TCPS_TICK_SHIFT 24
#define tcps_tick(ns) ((__u32)((ns) >> TCPS_TICK_SHIFT))

enum tcps_reason {
	TCPS_REASON_PACKET = 0,
	TCPS_REASON_TIMEOUT,
	TCPS_REASON_SEED,
};

/* One ring-buffer record per endpoint state change. */
struct tcps_event {
	struct tcps_key key;
	__u64 ts;		/* ns, same clock as tcps_conn.last_seen */
	__u32 ifindex;
	__u8 side;		/* canonical side (0/1) whose state changed */
	__u8 from;		/* enum tcps_state */
	__u8 to;
	__u8 reason;		/* enum tcps_reason */
	__u8 tcp_flags;		/* flags of the packet that caused it */
	__u8 conn_flags;	/* tcps_fsm.flags after the change */
	__u16 seq;		/* per connection, +1 a transition (wraps): causal order */
	__u8 pad[4];
	__u64 prev_state_ns;	/* time side spent in `from` (0: unknown, health off) */
};

/* Per-CPU counters (one array slot each); summed by userspace. */
enum tcps_counter {
	TCPS_CNT_PACKETS,		/* every packet the programs saw */
	TCPS_CNT_TCP,		/* parsed TCP segments */
	TCPS_CNT_NON_TCP,		/* well-formed, not TCP (or non-first fragment) */
	TCPS_CNT_PARSE_ERR,	/* truncated or malformed headers */
	TCPS_CNT_NEW_CONN,	/* entries created */
	TCPS_CNT_TRANSITIONS,	/* endpoint state changes */
	TCPS_CNT_RB_DROPS,	/* ring-buffer reserve failures */
	TCPS_CNT_TABLE_FULL,	/* inserts refused: connection table full */
	TCPS_CNT_OOW,		/* out-of-window / unacceptable segments ignored */
	TCPS_CNT_HALFOPEN_NEW,	/* SYN-only entries created in the half-open table */
	TCPS_CNT_PROMOTED,	/* half-open entries promoted to the main table */
	TCPS_CNT_MIDSTREAM,	/* entries picked up mid-stream */
	TCPS_CNT_FRAGMENTS,	/* non-first fragments passed without parsing */
	TCPS_CNT_RETRANS,	/* retransmitted segments (health on) */
	TCPS_CNT_MAX,
};

/* The value of tcps_stats, per CPU: the counters above, one u64 each from
 * offset 0, then the data path's parse of the packet at hand, so that one
 * lookup a packet fetches both (bpf/tcpscope.bpf.c, struct tcps_percpu).
 * Userspace reads values of this size and sums the first TCPS_CNT_MAX
 * words of each CPU's. */
#define TCPS_STATS_VALUE_SIZE 256
#define TCPS_STATS_WORDS (TCPS_STATS_VALUE_SIZE / 8)

/*
 * Health histograms (Prometheus-style, non-cumulative here): per-CPU u64
 * slots in the tcps_trans array after its transition counts, so they need
 * no map or pin of their own. For each histogram and local-port class:
 * TCPS_HIST_BOUNDS bucket counts (value <= bound i, first match), one for
 * values above the last bound, then the sum of the values.
 */
#define TCPS_TRANS_SLOTS (TCPS_STATE_MAX * TCPS_STATE_MAX)
enum tcps_hist {
	TCPS_HIST_HANDSHAKE,	/* µs: handshake RTT (host: network half; passive: both) */
	TCPS_HIST_RTT,		/* µs: each RTT sample (host: the local side's; passive: both halves) */
	TCPS_HIST_DURATION,	/* ms: connection duration when both ends are closed */
	TCPS_HIST_MAX,
};
/* The local port (passive mode: the responder's), in IANA's three ranges:
 * bounded labels, never a remote address. */
enum tcps_port_class {
	TCPS_PORTS_SYSTEM,	/* 0-1023 */
	TCPS_PORTS_USER,	/* 1024-49151 */
	TCPS_PORTS_DYNAMIC,	/* 49152-65535 */
	TCPS_PORTS_MAX,
};
#define TCPS_HIST_BOUNDS 16
#define TCPS_HIST_STRIDE (TCPS_HIST_BOUNDS + 2)
#define TCPS_HIST_BASE TCPS_TRANS_SLOTS
#define TCPS_TRANS_MAP_SLOTS (TCPS_HIST_BASE + TCPS_HIST_MAX * TCPS_PORTS_MAX * TCPS_HIST_STRIDE)

/*
 * Gauges (issue 11.3): entries per state of the first side (local, or orig
 * in passive mode) and per table, so stat, /metrics and top read 14 slots
 * instead of walking the tables. Two groups of per-CPU u64 slots in the
 * tcps_trans array after the histograms, each summed over CPUs (a slot of
 * one CPU may wrap below zero; the sum is exact):
 *  - TCPS_GAUGE_BASE, written only by the data path (tcps_path.h), with
 *    plain per-CPU adds where an entry is created, changes its first
 *    side's state, or is promoted;
 *  - TCPS_GAUGE_USER, written only by the userspace process that owns the
 *    tables (the daemon: expiry, seeding; replay), for what it inserts and
 *    deletes itself (user/gauges.c says why a group of its own).
 */
enum tcps_gauge {
	TCPS_G_STATE = 0,	/* + state: entries whose first side is in it */
	TCPS_G_CONNS = TCPS_STATE_MAX,	/* entries in tcps_conns */
	TCPS_G_HALFOPEN,	/* entries in tcps_halfopen */
	TCPS_G_GROUP,		/* slots per group */
};
#define TCPS_GAUGE_BASE TCPS_TRANS_MAP_SLOTS
#define TCPS_GAUGE_USER (TCPS_GAUGE_BASE + TCPS_G_GROUP)
#define TCPS_TRANS_MAP_ENTRIES (TCPS_GAUGE_USER + TCPS_G_GROUP)

/* Written once by the loader into the pinned tcps_info map, so that queries
 * and a restarted daemon can tell what made the pins and refuse pins of a
 * layout they cannot read. */
struct tcps_info {
	__u32 abi;		/* TCPS_ABI_VERSION of the writer */
	__u32 mode;		/* enum tcps_mode */
	__u32 max_conns;
	__u32 pid;		/* the daemon that owns the pins, 0 if none */
	__u64 started_ns;	/* CLOCK_REALTIME of its start */
	__u64 value_size;	/* of the connection maps: TCPS_CONN_SIZE_FULL or _SLIM */
	/* The interfaces it watches, by name: a query from another network
	 * namespace cannot resolve the daemon's ifindexes itself. */
	struct {
		__u32 ifindex;
		char name[16];
	} ifaces[16];
	__u32 flags;		/* enum tcps_info_flag */
	/* Its network namespace (the inode of /proc/self/ns/net; 0 in pins of
	 * older versions): detach refuses pins whose interfaces it cannot see. */
	__u32 netns_ino;
	/* The connection table (tcps_conns, include/tcps_slots.h): its hash
	 * seed, drawn by the daemon that created it and loaded into every
	 * object that reads it (const volatile tcps_slots_seed_cfg), and the
	 * collector's epoch, which deletes stamp on their tombstones. */
	__u32 slots_seed;
	__u32 slots_epoch;
	/* Its start in clock ticks since boot, as /proc/PID/stat (field 22)
	 * gives it: a pid reused by another process has another, and no
	 * clock adjustment moves it (started_ns, converted to boot time
	 * with today's offset, drifted 2 s an hour with the NTP slew). */
	__u64 start_ticks;
};

enum tcps_info_flag {
	TCPS_INFO_HEALTH = 0x01,	/* tcps_conn.h is tracked (not --no-health) */
	TCPS_INFO_PREALLOC = 0x02,	/* tcps_conns is preallocated (run --prealloc) */
};

/*
 * `tcpscope replay` hands the kernel a batch of frames per BPF_PROG_TEST_RUN
 * (tcps_xdp_replay): the frames lie in the test run's data last to first,
 * and a table in the program's .bss gives, in replay order, each one's
 * length there, its length on the wire (a TCP frame is cut after its
 * headers: the data path reads nothing beyond them) and its capture time.
 * A run takes at most TCPS_REPLAY_BATCH frames (the program tail-calls
 * itself once per frame: 33 tail calls at most) and TCPS_REPLAY_BYTES of
 * data (the most an XDP test run takes: a page, less its headroom and
 * skb_shared_info).
 */
#define TCPS_REPLAY_BATCH 32
#define TCPS_REPLAY_BYTES 3456
struct tcps_replay_frame {
	__u64 ts;		/* capture ns: the clock of this frame */
	__u32 len;		/* bytes of it in the batch */
	__u32 wire_len;		/* its full length */
};

/* Load-time configuration (const volatile .rodata in the BPF object). */
enum tcps_mode {
	TCPS_MODE_HOST = 0,	/* ingress = remote->local, egress = local->remote */
	TCPS_MODE_PASSIVE,	/* mirror port: every packet on ingress, orig/resp */
};

#endif /* TCPSCOPE_H */
