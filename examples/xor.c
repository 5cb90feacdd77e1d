/* A two-layer network learns XOR: define, train, check. */
#include <stdio.h>

#include "tinyad.h"

int main(void) {
    td_real xs[] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[] = {0, 1, 1, 0};
    td_tensor x = td_tensor_wrap(TD_SHAPE(4, 2), xs), y = td_tensor_wrap(TD_SHAPE(4, 1), ys);
    td_rng rng;
    td_rng_init(&rng, 1);

    td_params *params = td_params_create();
    td_mlp net; /* 2 -> 8 -> 1, tanh between the layers */
    td_mlp_init(&net, params, "net", 3, (int64_t[]){2, 8, 1}, TD_ACT_TANH, TD_INIT_XAVIER);
    td_params_finalize(params, &rng);
    td_optimizer *adam = td_optimizer_create(params, td_optim_defaults(TD_OPT_ADAM));
    td_tape *tape = td_tape_create();

    td_var *loss = NULL, *logits = NULL;
    for (int step = 0; step < 300; step++) {
        td_tape_reset(tape);
        td_params_zero_grad(params);
        logits = td_mlp_forward(tape, &net, td_const(tape, x));
        loss = td_mean(tape, td_bce_logits(tape, logits, td_const(tape, y)));
        td_backward(tape, loss);
        td_optimizer_step(adam, 0.05);
    }
    int correct = 0;
    for (int i = 0; i < 4; i++) correct += (logits->value.data[i] > 0) == (ys[i] > 0.5f);
    double final_loss = td_item(loss);
    printf("loss %.4f, %d of 4 right\n", final_loss, correct);

    td_tape_destroy(tape);
    td_optimizer_destroy(adam);
    td_params_destroy(params);
    return correct == 4 && final_loss < 0.05 ? 0 : 1;
}
