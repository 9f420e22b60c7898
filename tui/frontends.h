/* The front ends main.c chooses between; each drives a session until done and returns an exit code. */
#ifndef VMSCOPE_FRONTENDS_H
#define VMSCOPE_FRONTENDS_H
#include <signal.h>

#include "probes/session.h"
#include "tui/cli.h"

extern volatile sig_atomic_t vmscope_quit; /* set by SIGINT/SIGTERM */

int run_headless(const struct cli *cli, struct session *s);
int run_dashboard(const struct cli *cli, struct session *s);

#endif
