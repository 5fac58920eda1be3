/* The base table of the firewall (see firewall-base.c for what each chain
 * does). Internal to the firewall (net/firewall*.c). */
#pragma once

#include <stdbool.h>

/* The nft text that deletes a leftover `inet ward` table and creates the
 * base table, empty sets and maps included, in one transaction. uplink is
 * the link egress leaves and ingress arrives by ("": any link that is not
 * ward's); drop_foreign_forwarding drops forwarding between non-ward links
 * too. NULL when out of memory; caller frees. */
char *fw_base_text(const char *uplink, bool drop_foreign_forwarding);
