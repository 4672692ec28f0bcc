/* A small INI reader: [section] headers, key = value lines, # and ; comment lines, and
 * "# comment" after whitespace at the end of a line. */
#pragma once

#include <stdio.h>

#include "error.h"

/* Called for each key = value; origin is "FILE:LINE" of the assignment. Returns 0 to go on, or a
 * negative errno after setting e with the reason (without file and line: ini_parse adds them). */
typedef int (*IniHandler)(const char *section, const char *key, const char *value,
                          const char *origin, void *userdata, Error *e);

/* Parses text (NUL-terminated) read from a file called filename, calling handler for every
 * assignment. Syntax errors and handler errors become e = "FILE:LINE: reason". */
int ini_parse_string(const char *text, const char *filename, IniHandler handler, void *userdata,
                     Error *e);

/* Reads path and parses it as ini_parse_string() does. A missing file is -ENOENT without e set,
 * so callers can treat it as "all defaults". */
int ini_parse_file(const char *path, IniHandler handler, void *userdata, Error *e);
