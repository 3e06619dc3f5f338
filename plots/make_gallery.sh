#!/usr/bin/env bash
# Regenerates the gallery in plots/ with dlcalc itself: bash plots/make_gallery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dlcalc plot sigmoid tanh --deriv --annotate -o plots/activations.png
dlcalc plot relu leaky_relu elu gelu --deriv -p negative_slope=0.1 -o plots/relu_family.png
dlcalc plot gelu gelu_tanh silu mish --deriv --range -4 4 -o plots/smooth_relus.png
dlcalc plot "x*sigmoid(x)" softplus softsign --deriv --annotate -o plots/expressions.png
dlcalc plot softmax --logits 2 1 0.1 -t 0.5 1 2 -o plots/softmax_temperature.png
dlcalc plot ce -o plots/cross_entropy.png
dlcalc plot "(1-x)^2 + 100*(y-x^2)^2" --range -2 2 --yrange -1 3 --descend 300 --at x=-1.2 y=1.5 --lr 0.002 --optimizer sgd --optimizer momentum --optimizer rmsprop --optimizer adam -o plots/descent.png
