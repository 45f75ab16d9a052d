/* bienc vocab train: learn a WordPiece vocabulary from a text corpus. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_vocab(int argc, char **argv)
{
    fprintf(stderr, "bienc vocab: not implemented yet\n");
    return 1;
}
