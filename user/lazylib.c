// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Libraries loaded when first needed (lazylib.h). */
#include <dlfcn.h>
#include <microhttpd.h>
/* libpcap's own struct bpf_insn would clash with linux/bpf.h's. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <stddef.h>

#include "common.h"
#include "lazylib.h"

struct tcps_mhd_api tcps_mhd;
struct tcps_pcap_api tcps_pcap;

struct sym {
	const char *name;
	size_t off;		/* of its pointer in the api struct */
};

#define SYM(api, field, name) { #name, offsetof(struct api, field) }

static const struct sym mhd_syms[] = {
	SYM(tcps_mhd_api, start_daemon, MHD_start_daemon),
	SYM(tcps_mhd_api, stop_daemon, MHD_stop_daemon),
	SYM(tcps_mhd_api, lookup_connection_value, MHD_lookup_connection_value),
	SYM(tcps_mhd_api, create_response_from_buffer, MHD_create_response_from_buffer),
	SYM(tcps_mhd_api, add_response_header, MHD_add_response_header),
	SYM(tcps_mhd_api, queue_response, MHD_queue_response),
	SYM(tcps_mhd_api, destroy_response, MHD_destroy_response),
};

static const struct sym pcap_syms[] = {
	SYM(tcps_pcap_api, open_offline_with_tstamp_precision, pcap_open_offline_with_tstamp_precision),
	SYM(tcps_pcap_api, datalink, pcap_datalink),
	SYM(tcps_pcap_api, datalink_val_to_name, pcap_datalink_val_to_name),
	SYM(tcps_pcap_api, next_ex, pcap_next_ex),
	SYM(tcps_pcap_api, geterr, pcap_geterr),
	SYM(tcps_pcap_api, close, pcap_close),
};

/* dlopen lib and fill api from syms; *state: 0 not yet, 1 loaded, -1 failed. */
static int load(int *state, const char *lib, const char *pkg, const struct sym *syms, size_t n,
		void *api)
{
	void *h;
	size_t i;

	if (*state)
		return *state > 0 ? 0 : -1;
	*state = -1;
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		pr_err("%s: %s (apt-get install %s, or make deps)", lib, dlerror(), pkg);
		return -1;
	}
	for (i = 0; i < n; i++) {
		void *f = dlsym(h, syms[i].name);

		if (!f) {
			pr_err("%s: no %s: %s", lib, syms[i].name, dlerror());
			return -1;
		}
		*(void **)((char *)api + syms[i].off) = f;
	}
	*state = 1;
	return 0;
}

int tcps_mhd_load(void)
{
	static int state;

	return load(&state, "libmicrohttpd.so.12", "libmicrohttpd12", mhd_syms,
		    sizeof(mhd_syms) / sizeof(mhd_syms[0]), &tcps_mhd);
}

int tcps_pcap_load(void)
{
	static int state;

	return load(&state, "libpcap.so.0.8", "libpcap0.8", pcap_syms,
		    sizeof(pcap_syms) / sizeof(pcap_syms[0]), &tcps_pcap);
}
