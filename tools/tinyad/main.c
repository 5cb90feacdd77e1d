/* tinyad: train, evaluate and sample models from the command line.
 *
 *   tinyad train KIND [options]         trains, writes a run directory
 *   tinyad eval RUN_OR_CHECKPOINT       test loss (+ --iw-k K: NLL estimate)
 *   tinyad sample CHECKPOINT            a PNG grid of prior samples
 *
 * Exit status: 0 ok, 1 runtime failure, 2 bad command line, 130 stopped by
 * Ctrl-C / SIGTERM after saving the checkpoint. */
#include <string.h>

#include "commands.h"

static void main_usage(FILE *f) {
    fprintf(f, "usage: tinyad COMMAND [options]\n\n"
               "commands:\n"
               "  train KIND [options]            train a model (KIND: %s); writes a run directory\n"
               "  eval RUN_OR_CHECKPOINT [opts]   test loss; --iw-k K for the importance-sampled NLL\n"
               "  sample CHECKPOINT [options]     a PNG grid of samples from the prior\n\n"
               "`tinyad COMMAND --help` lists a command's options with their defaults.\n",
            cli_model_kinds());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        main_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        main_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc, argv);
    fprintf(stderr, "tinyad: unknown command '%s'\n\n", cmd);
    main_usage(stderr);
    return CLI_USAGE;
}
