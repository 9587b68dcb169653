// The `sphaera` command line: all verbs live in sphaera/train/ (cli.cpp lists them).
#include "sphaera/train/cli.h"

int main(int argc, char** argv) { return sphaera::train::run_cli(argc, argv); }
