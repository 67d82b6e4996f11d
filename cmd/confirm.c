/*
 * apply's confirmation on a terminal. With a terminal on stdin and stdout
 * (and no --yes), apply shows the plan and asks "Apply these changes? [y/N]";
 * only "y" or "yes" proceeds. Without a terminal (cron, systemd, CI) it never
 * asks. The question and, with --format json or -q, the plan summary go to
 * the terminal itself (/dev/tty), never into the document on stdout.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "util.h"
#include "banned.h"

bool confirm_needed(const struct opts *o)
{
	return !o->yes && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

/* A short plan for the terminal when stdout carries JSON or -q is on. */
static void summary(FILE *tty, const ps_plan *plan)
{
	size_t i, j;

	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		for (j = 0; j < ap->nchanges; j++) {
			const ps_change *c = &ap->changes[j];
			fprintf(tty, "  %s %s %s%s\n", ap->name, c->event,
				ps_action_name(c->action),
				c->origin == PS_ORIGIN_DASHBOARD
					? " (dashboard)"
				: c->origin == PS_ORIGIN_CONFLICT
					? " (conflict)"
					: "");
		}
	}
	fprintf(tty, "Plan: %zu to create, %zu to update, %zu to delete.\n",
		plan->ncreate, plan->nupdate, plan->ndelete);
}

bool confirm_apply(const struct opts *o, const ps_plan *plan)
{
	FILE *tty = fopen("/dev/tty", "w");
	FILE *to = tty ? tty : stderr;
	char answer[64], *p, *end;
	bool yes = false;

	if (o->format == FORMAT_TEXT && !o->quiet)
		out_plan_text(plan, false, NULL, NULL);
	else
		summary(to, plan);
	fflush(stdout);
	fputs("Apply these changes? [y/N] ", to);
	fflush(to);
	if (fgets(answer, sizeof(answer), stdin)) {
		for (p = answer; isspace((unsigned char)*p); p++)
			;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		ps_ascii_lowercase(p);
		yes = !strcmp(p, "y") || !strcmp(p, "yes");
	} else {
		fputc('\n', to);
	}
	if (tty)
		fclose(tty);
	return yes;
}
