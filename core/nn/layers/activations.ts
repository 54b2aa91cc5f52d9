import { tf, type Tensor } from '../../runtime/tf.js';
import { Module } from '../module.js';
import { gelu, quickGelu } from '../functional.js';

export class QuickGELU extends Module {
  forward(x: Tensor): Tensor {
    return quickGelu(x);
  }
}

export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return gelu(x);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return tf.relu(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
