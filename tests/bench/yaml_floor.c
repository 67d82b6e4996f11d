/*
 * yaml_floor FILE: parse FILE with libyaml's event parser and nothing else
 * (no document tree, no validation, no output but an event count). The
 * benchmark (tests/bench/bench.py) uses it as the floor a no-drift plan is
 * measured against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int main(int argc, char **argv)
{
	yaml_parser_t parser;
	yaml_event_t event;
	unsigned long events = 0;
	int done = 0, rc = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: yaml_floor FILE\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return 1;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		if (!yaml_parser_parse(&parser, &event)) {
			fprintf(stderr, "%s:%zu:%zu: %s\n", argv[1],
				parser.problem_mark.line + 1,
				parser.problem_mark.column + 1,
				parser.problem ? parser.problem : "parse error");
			rc = 1;
			break;
		}
		done = event.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&event);
		events++;
	}
	yaml_parser_delete(&parser);
	fclose(f);
	printf("%lu events\n", events);
	return rc;
}
