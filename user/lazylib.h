/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Libraries only some commands use, loaded when first needed (dlopen):
 * libmicrohttpd (run --listen) and libpcap (replay). Linked at start, they
 * and what they pull in (gnutls, dbus, systemd: 19 more libraries) cost
 * every command ~2.2 ms of dynamic loading: half of a `stat`.
 *
 * The files that use them include this header after the library's own:
 * each function is called through a pointer of the library's own type,
 * under its own name, once tcps_mhd_load() / tcps_pcap_load() succeeded.
 */
#ifndef TCPS_LAZYLIB_H
#define TCPS_LAZYLIB_H

#ifdef MHD_VERSION
struct tcps_mhd_api {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
};
extern struct tcps_mhd_api tcps_mhd;
#define MHD_start_daemon tcps_mhd.start_daemon
#define MHD_stop_daemon tcps_mhd.stop_daemon
#define MHD_lookup_connection_value tcps_mhd.lookup_connection_value
#define MHD_create_response_from_buffer tcps_mhd.create_response_from_buffer
#define MHD_add_response_header tcps_mhd.add_response_header
#define MHD_queue_response tcps_mhd.queue_response
#define MHD_destroy_response tcps_mhd.destroy_response
#endif

#ifdef PCAP_ERRBUF_SIZE
struct tcps_pcap_api {
	__typeof__(&pcap_open_offline_with_tstamp_precision) open_offline_with_tstamp_precision;
	__typeof__(&pcap_datalink) datalink;
	__typeof__(&pcap_datalink_val_to_name) datalink_val_to_name;
	__typeof__(&pcap_next_ex) next_ex;
	__typeof__(&pcap_geterr) geterr;
	__typeof__(&pcap_close) close;
};
extern struct tcps_pcap_api tcps_pcap;
#define pcap_open_offline_with_tstamp_precision tcps_pcap.open_offline_with_tstamp_precision
#define pcap_datalink tcps_pcap.datalink
#define pcap_datalink_val_to_name tcps_pcap.datalink_val_to_name
#define pcap_next_ex tcps_pcap.next_ex
#define pcap_geterr tcps_pcap.geterr
#define pcap_close tcps_pcap.close
#endif

/* Load the library and every function above (once; later calls return
 * the first result). 0, or -1 after a one-line error naming the library
 * and the Debian package that has it. */
int tcps_mhd_load(void);
int tcps_pcap_load(void);

#endif /* TCPS_LAZYLIB_H */
