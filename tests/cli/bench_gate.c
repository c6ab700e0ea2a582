/* SPDX-License-Identifier: MIT */
/* bench_gate.c - a stand-in benchmark program for the cli tests of `uhmm bench --strict`.
 *
 * Built twice (tests/cli/CMakeLists.txt): bench_gate_pass prints one row
 * that meets its goal, bench_gate_miss one that misses it. Uses the
 * benchmarks' own bench_util.h, so --strict is handled as in bench/.
 */
#include "bench_util.h"

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_parse_args(argc, argv, &o, "gate", NULL);
	bench_table_begin("gate: one row with a goal");
	bench_row(&o, "gate row", "-", GATE_MISS ? 2.0 : 0.5, 1.0, "x", GATE_MISS ? 2.0 : 0.5, "<= 1x",
		  GATE_MISS ? BENCH_MISS : BENCH_PASS);
	return 0;
}
