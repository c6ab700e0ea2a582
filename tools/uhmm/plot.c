/* SPDX-License-Identifier: MIT */
/* plot.c - the figures of `uhmm bench --plot`: gnuplot from the benchmarks' CSV.
 *
 * Two panels in one PNG: the owner filter (bench_owner_filter: host and
 * modelled device time against the fraction already on the device, with and
 * without the filter) and migration throughput (bench_migrate). The rows
 * are extracted from the CSV into data files and drawn as clustered bars,
 * subject against baseline, with the ratio written above each pair. gnuplot
 * (Debian gnuplot-nox) runs as a child process; without it the CSV stays the
 * result and a message says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ROWS 64

struct row {
	char bench[32], subject[96], param[48];
	double value, baseline, ratio;
};

/* Split one CSV line (fields may be "quoted"); the number of fields. */
static int csv_split(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;

	while (n < max) {
		if (*p == '"') {
			char *w = ++p;

			f[n++] = w;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;	/* "" is one quote */
				*w++ = *p++;
			}
			if (*p == '"')
				p++;
			*w = 0;
			/* w may lag p: terminate the field where it ends */
		} else {
			f[n++] = p;
			while (*p && *p != ',' && *p != '\n' && *p != '\r')
				p++;
		}
		if (*p != ',') {
			*p = 0;
			break;
		}
		*p++ = 0;
	}
	return n;
}

static int load(const char *csv, const char *bench, struct row *rows, int max)
{
	FILE *f = fopen(csv, "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		char *fld[6];

		if (csv_split(line, fld, 6) != 6 || strcmp(fld[0], bench))
			continue;
		snprintf(rows[n].bench, sizeof(rows[n].bench), "%s", fld[0]);
		snprintf(rows[n].subject, sizeof(rows[n].subject), "%s", fld[1]);
		snprintf(rows[n].param, sizeof(rows[n].param), "%s", fld[2]);
		rows[n].value = strtod(fld[3], NULL);
		rows[n].baseline = strtod(fld[4], NULL);
		rows[n].ratio = strtod(fld[5], NULL);
		n++;
	}
	fclose(f);
	return n;
}

static bool have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save;
	bool found = false;

	if (!path)
		path = "/usr/bin:/bin";
	copy = strdup(path);
	for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/gnuplot", dir);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* gnuplot strings are in double quotes: keep labels plain. */
static void clean(char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || *s == '\t' || *s == '\n')
			*s = ' ';
}

/* "f=0.5" -> 0.5: the parameter is numeric when it is NAME=NUMBER. */
static bool param_number(const char *param, double *x, char *name, size_t len)
{
	const char *eq = strchr(param, '=');
	char *end;

	if (!eq || eq == param)
		return false;
	*x = strtod(eq + 1, &end);
	if (end == eq + 1 || *end)
		return false;
	snprintf(name, len, "%.*s", (int)(eq - param), param);
	return true;
}

struct panel {
	const char *bench, *title, *value_label, *baseline_label, *unit_label;
	struct row rows[MAX_ROWS];
	int n;
};

/*
 * One panel. When every row's parameter is NAME=NUMBER: one line pair (value,
 * baseline) per subject against the number, the second subject on the right
 * axis (subjects of one benchmark usually differ in unit). Otherwise clustered
 * bars, value and baseline per row, with the ratio above.
 */
static int panel(FILE *g, const char *dir, struct panel *p)
{
	char subjects[4][96], xname[32] = "", path[4][96];
	int ns = 0, i, k;
	bool numeric = p->n > 0;
	double x;

	if (p->n <= 0) {
		fprintf(g, "set title \"%s: no rows (benchmark not built or not run)\"\n"
			   "unset xtics\nunset ytics\nset xrange [0:1]\nset yrange [0:1]\n"
			   "plot 2 notitle\nset xtics\nset ytics\nset autoscale\n",
			p->title);
		return 0;
	}
	for (i = 0; i < p->n; i++) {
		clean(p->rows[i].subject);
		clean(p->rows[i].param);
		numeric = numeric && param_number(p->rows[i].param, &x, xname, sizeof(xname));
		for (k = 0; k < ns && strcmp(subjects[k], p->rows[i].subject); k++)
			;
		if (k == ns && ns < 4)
			snprintf(subjects[ns++], sizeof(subjects[0]), "%s", p->rows[i].subject);
	}
	fprintf(g, "set title \"%s\"\nset key below\nset yrange [0:*]\nset offsets 0, 0, graph 0.1, 0\n",
		p->title);
	if (numeric) {
		fprintf(g, "unset style\nset xlabel \"%s\"\nset ylabel \"%s\"\n", xname, subjects[0]);
		if (ns > 1)
			fprintf(g, "set y2label \"%s\"\nset ytics nomirror\nset y2tics\nset y2range [0:*]\n",
				subjects[1]);
		for (k = 0; k < ns; k++) {
			FILE *f;

			snprintf(path[k], sizeof(path[k]), "%s/%s.%d.dat", dir, p->bench, k);
			f = fopen(path[k], "w");
			if (!f)
				return -1;
			for (i = 0; i < p->n; i++)
				if (!strcmp(p->rows[i].subject, subjects[k]) &&
				    param_number(p->rows[i].param, &x, xname, sizeof(xname)))
					fprintf(f, "%g\t%g\t%g\n", x, p->rows[i].value, p->rows[i].baseline);
			if (fclose(f))
				return -1;
		}
		fprintf(g, "plot ");
		for (k = 0; k < ns; k++)
			fprintf(g, "%s\"%s\" using 1:2 axes x1y%d with linespoints lw 2 pt 7 dt %d title "
				   "\"%s: %s\", \"%s\" using 1:3 axes x1y%d with linespoints lw 2 pt 6 dt %d "
				   "title \"%s: %s\"",
				k ? ", " : "", path[k], k == 1 ? 2 : 1, k ? 2 : 1, subjects[k], p->value_label,
				path[k], k == 1 ? 2 : 1, k ? 2 : 1, subjects[k], p->baseline_label);
		fprintf(g, "\nunset y2label\nunset y2tics\nset ytics mirror\nunset xlabel\n");
		return 0;
	}
	snprintf(path[0], sizeof(path[0]), "%s/%s.dat", dir, p->bench);
	{
		FILE *f = fopen(path[0], "w");

		if (!f)
			return -1;
		for (i = 0; i < p->n; i++)
			fprintf(f, "\"%s\\n%s\"\t%g\t%g\t%g\n", p->rows[i].subject, p->rows[i].param,
				p->rows[i].value, p->rows[i].baseline, p->rows[i].ratio);
		if (fclose(f))
			return -1;
	}
	fprintf(g, "set style data histogram\nset style histogram clustered gap 1\n"
		   "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
		   "set xtics rotate by -20 font \",8\" nomirror\nset ylabel \"%s\"\n"
		   "plot \"%s\" using 2:xtic(1) title \"%s\", \"\" using 3 title \"%s\", "
		   "\"\" using 0:($2>$3?$2:$3):(sprintf(\"%%.2fx\",$4)) with labels offset 0,0.8 "
		   "font \",9\" notitle\nunset style\nset xtics norotate\n",
		   p->unit_label, path[0], p->value_label, p->baseline_label);
	return 0;
}

/*
 * The owner-filter panel: time against the fraction of the range already on
 * the device, in ms, one line per time and mode (the rows "simulated device
 * time" and "host time in HMM paths" of bench_owner_filter; value = with the
 * filter, baseline = without).
 */
static int panel_owner_filter(FILE *g, const char *dir, struct panel *p)
{
	static const char *const subj[2] = { "simulated device time", "host time in HMM paths" };
	static const char *const name[2] = { "device time (modelled)", "host time in HMM paths (measured)" };
	char path[2][96], xname[32];
	int i, k, rows = 0;
	double x;

	for (k = 0; k < 2; k++) {
		FILE *f;

		snprintf(path[k], sizeof(path[k]), "%s/owner_filter.%d.dat", dir, k);
		f = fopen(path[k], "w");
		if (!f)
			return -1;
		for (i = 0; i < p->n; i++)
			if (!strcmp(p->rows[i].subject, subj[k]) &&
			    param_number(p->rows[i].param, &x, xname, sizeof(xname))) {
				fprintf(f, "%g\t%g\t%g\n", x, p->rows[i].value, p->rows[i].baseline);
				rows++;
			}
		if (fclose(f))
			return -1;
	}
	if (!rows) {
		p->n = 0;
		return panel(g, dir, p);
	}
	fprintf(g, "set title \"%s\"\nset key below\nset yrange [0:*]\nset xrange [*:*]\n"
		   "set xlabel \"fraction of the range already on the device\"\nset ylabel \"time (ms)\"\n"
		   "plot ",
		p->title);
	for (k = 0; k < 2; k++)
		fprintf(g, "%s\"%s\" using 1:2 with linespoints lw 2 pt 7 dt %d lc rgb \"#4477aa\" title "
			   "\"%s, owner filter on\", \"%s\" using 1:3 with linespoints lw 2 pt 6 dt %d "
			   "lc rgb \"#cc3311\" title \"%s, owner filter off\"",
			k ? ", " : "", path[k], k + 1, name[k], path[k], k + 1, name[k]);
	fprintf(g, "\nunset xlabel\nunset ylabel\n");
	return 0;
}

int plot_figures(const char *csv, const char *png)
{
	static struct panel panels[2] = {
		{ .bench = "owner_filter", .title = "owner filter (bench_owner_filter)",
		  .value_label = "with the filter", .baseline_label = "without", .unit_label = "" },
		{ .bench = "migrate", .title = "migration throughput (bench_migrate)",
		  .value_label = "migrate_vma", .baseline_label = "memcpy", .unit_label = "GB/s" },
	};
	char dir[] = "/tmp/uhmm-plot-XXXXXX", gp[64], cmd[128];
	int rc = CLI_OK, status, k;
	FILE *g;
	pid_t pid;

	if (!have_gnuplot()) {
		fprintf(stderr, "%s: gnuplot not found (Debian: apt-get install gnuplot-nox): no plot, "
				"wrote only %s\n", cli_prog, csv);
		return CLI_OK;
	}
	if (!mkdtemp(dir))
		return cli_fail("mkdtemp: %s", strerror(errno));
	snprintf(gp, sizeof(gp), "%s/plot.gp", dir);
	g = fopen(gp, "w");
	if (!g) {
		rc = cli_fail("cannot write %s: %s", gp, strerror(errno));
		goto out;
	}
	fprintf(g, "set terminal pngcairo size 1500,650 noenhanced font \",10\"\n"
		   "set output \"%s\"\nset grid ytics\n"
		   "set multiplot layout 1,2 title \"uhmm bench: %s (same-run baselines; ratios within a run)\"\n",
		png, csv);
	for (k = 0; k < 2; k++) {
		panels[k].n = load(csv, panels[k].bench, panels[k].rows, MAX_ROWS);
		if ((k == 0 ? panel_owner_filter(g, dir, &panels[k]) : panel(g, dir, &panels[k]))) {
			fclose(g);
			rc = cli_fail("writing the plot data in %s: %s", dir, strerror(errno));
			goto out;
		}
	}
	fprintf(g, "unset multiplot\n");
	if (fclose(g)) {
		rc = cli_fail("writing %s: %s", gp, strerror(errno));
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return cli_fail("gnuplot failed to draw %s (its script is %s)", png, gp);
	printf("plot: %s\n", png);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "%s: could not remove %s\n", cli_prog, dir);
	return rc;
}

/* Run gnuplot on @gp; 0 or CLI_FAIL after a message. */
static int run_gnuplot(const char *gp, const char *png)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return cli_fail("gnuplot failed to draw %s (its script is %s)", png, gp);
	return CLI_OK;
}

/*
 * `uhmm demo --plot`: left, device A's page table after the migration, one
 * strip of N cells per mode (entry kept: the page was already in A's memory
 * and the filter left it alone; migrated: the migration mapped the page that
 * moved; zapped: the callback erased it for a page that never moved); right,
 * host, device and total time per mode as bars in milliseconds.
 */
int plot_demo(const char *png, const struct demo_plot *p)
{
	char dir[] = "/tmp/uhmm-plot-XXXXXX", gp[64], dat[64], cmd[128];
	double n = (double)p->pages, moved = (double)(p->pages - p->resident);
	int rc = CLI_OK;
	FILE *g, *f;

	if (!have_gnuplot()) {
		fprintf(stderr, "%s: gnuplot not found (Debian: apt-get install gnuplot-nox): no plot\n", cli_prog);
		return CLI_OK;
	}
	if (!mkdtemp(dir))
		return cli_fail("mkdtemp: %s", strerror(errno));
	snprintf(gp, sizeof(gp), "%s/demo.gp", dir);
	snprintf(dat, sizeof(dat), "%s/times.dat", dir);
	f = fopen(dat, "w");
	if (!f || fprintf(f, "\"host (measured)\"\t%g\t%g\n\"device (modelled)\"\t%g\t%g\n"
			     "\"host + device\"\t%g\t%g\n",
			  p->host_ms[0], p->host_ms[1], p->dev_ms[0], p->dev_ms[1], p->host_ms[0] + p->dev_ms[0],
			  p->host_ms[1] + p->dev_ms[1]) < 0 || fclose(f)) {
		rc = cli_fail("writing %s: %s", dat, strerror(errno));
		goto out;
	}
	g = fopen(gp, "w");
	if (!g) {
		rc = cli_fail("cannot write %s: %s", gp, strerror(errno));
		goto out;
	}
	fprintf(g, "set terminal pngcairo size 1500,600 noenhanced font \",10\"\nset output \"%s\"\n"
		   "set multiplot layout 1,2 title \"uhmm demo: device A migrates %lu pages, %lu already in its "
		   "memory; owner filter on vs off\"\n",
		png, p->pages, p->resident);
	/* left: the strips, drawn as rectangles over [0, N) */
	fprintf(g, "set title \"device A's page table after its migration, one cell per page\"\n"
		   "set xrange [0:%g]\nset yrange [-0.5:1.5]\nset xlabel \"page of the range (0 .. %lu)\"\n"
		   "set ytics (\"owner filter off\" 0, \"owner filter on\" 1)\nset key above\n",
		   n, p->pages);
	if (moved > 0)
		fprintf(g, "set object 1 rect from 0,0.7 to %g,1.3 fc rgb \"#4477aa\" fs solid noborder\n"
			   "set object 2 rect from 0,-0.3 to %g,0.3 fc rgb \"#4477aa\" fs solid noborder\n",
			moved, moved);
	if (p->resident)
		fprintf(g, "set object 3 rect from %g,0.7 to %g,1.3 fc rgb \"#228833\" fs solid noborder\n"
			   "set object 4 rect from %g,-0.3 to %g,0.3 fc rgb \"#cc3311\" fs solid noborder\n",
			moved, n, moved, n);
	/* gnuplot 5.4 cannot plot keyentries alone: an invisible line (y = -1) comes first */
	fprintf(g, "plot -1 notitle lc rgb \"white\", keyentry with boxes fc rgb \"#228833\" fs solid title \"entry kept (page already on A)\", "
		   "keyentry with boxes fc rgb \"#4477aa\" fs solid title \"migrated (mapped by the migration)\", "
		   "keyentry with boxes fc rgb \"#cc3311\" fs solid title \"zapped (page never moved)\"\n"
		   "unset object 1\nunset object 2\nunset object 3\nunset object 4\n");
	/* right: the times */
	fprintf(g, "set title \"time of the phase (median host time; device time from dmirror's cost model)\"\n"
		   "set autoscale\nset yrange [0:*]\nset xrange [*:*]\nunset xlabel\nset ytics auto\n"
		   "set ylabel \"time (ms)\"\nset style data histogram\nset style histogram clustered gap 1\n"
		   "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid ytics\n"
		   "plot \"%s\" using 2:xtic(1) title \"owner filter on\" lc rgb \"#4477aa\", "
		   "\"\" using 3 title \"owner filter off\" lc rgb \"#cc3311\"\n"
		   "unset multiplot\n",
		dat);
	if (fclose(g)) {
		rc = cli_fail("writing %s: %s", gp, strerror(errno));
		goto out;
	}
	rc = run_gnuplot(gp, png);
	if (rc == CLI_OK)
		cli_note("plot: %s", png);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "%s: could not remove %s\n", cli_prog, dir);
	return rc;
}
