"""A BERT encoder written the way Hugging Face transformers writes it (modeling_bert.py,
trimmed): a config object, embeddings with `position_ids` / `token_type_ids` buffers,
self-attention with `transpose_for_scores`, intermediate/output sub-modules with residual
LayerNorms, a tanh pooler on the first token and a classification head. Small sizes."""

import math
from dataclasses import dataclass

import keras
from keras import layers, ops


@dataclass
class BertConfig:
    vocab_size: int = 100
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 64
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 64
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    num_labels: int = 3


class BertEmbeddings(keras.layers.Layer):
    """Construct the embeddings from word, position and token_type embeddings."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.word_embeddings = layers.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = layers.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = layers.Embedding(config.type_vocab_size, config.hidden_size)

        self.LayerNorm = layers.LayerNormalization(epsilon=config.layer_norm_eps)
        self.dropout = layers.Dropout(config.hidden_dropout_prob)
        # position_ids (1, len position emb) is contiguous in memory and exported when serialized
        _t1 = ops.arange(start=config.max_position_embeddings)
        self.position_ids = ops.broadcast_to(_t1, (1, ops.shape(_t1)[-1]))
        self.token_type_ids = ops.zeros(ops.shape(self.position_ids), dtype="int64")

    def call(self, input_ids):
        seq_length = ops.shape(input_ids)[1]
        position_ids = self.position_ids[:, :seq_length]
        token_type_ids = self.token_type_ids[:, :seq_length]

        inputs_embeds = self.word_embeddings(input_ids)
        token_type_embeddings = self.token_type_embeddings(token_type_ids)

        embeddings = inputs_embeds + token_type_embeddings
        position_embeddings = self.position_embeddings(position_ids)
        embeddings += position_embeddings
        embeddings = self.LayerNorm(embeddings)
        embeddings = self.dropout(embeddings)
        return embeddings


class BertSelfAttention(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size

        self.query = layers.Dense(self.all_head_size)
        self.key = layers.Dense(self.all_head_size)
        self.value = layers.Dense(self.all_head_size)

        self.dropout = layers.Dropout(config.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        new_x_shape = ops.shape(x)[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = ops.reshape(x, new_x_shape)
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, hidden_states):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))

        # Take the dot product between "query" and "key" to get the raw attention scores.
        attention_scores = ops.matmul(query_layer, ops.transpose(key_layer, (0, 1, 3, 2)))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)

        # Normalize the attention scores to probabilities.
        attention_probs = ops.softmax(attention_scores, axis=-1)

        # This is actually dropping out entire tokens to attend to, which might
        # seem a bit unusual, but is taken from the original Transformer paper.
        attention_probs = self.dropout(attention_probs)

        context_layer = ops.matmul(attention_probs, value_layer)

        context_layer = ops.transpose(context_layer, (0, 2, 1, 3))
        new_context_layer_shape = ops.shape(context_layer)[:-2] + (self.all_head_size,)
        context_layer = ops.reshape(context_layer, new_context_layer_shape)
        return context_layer


class BertSelfOutput(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(config.hidden_size)
        self.LayerNorm = layers.LayerNormalization(epsilon=config.layer_norm_eps)
        self.dropout = layers.Dropout(config.hidden_dropout_prob)

    def call(self, hidden_states, input_tensor):
        hidden_states = self.dense(hidden_states)
        hidden_states = self.dropout(hidden_states)
        hidden_states = self.LayerNorm(hidden_states + input_tensor)
        return hidden_states


class BertAttention(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.self = BertSelfAttention(config)
        self.output_ = BertSelfOutput(config)

    def call(self, hidden_states):
        self_outputs = self.self(hidden_states)
        attention_output = self.output_(self_outputs, hidden_states)
        return attention_output


class BertIntermediate(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(config.intermediate_size)
        self.intermediate_act_fn = layers.Activation("gelu")

    def call(self, hidden_states):
        hidden_states = self.dense(hidden_states)
        hidden_states = self.intermediate_act_fn(hidden_states)
        return hidden_states


class BertOutput(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(config.hidden_size)
        self.LayerNorm = layers.LayerNormalization(epsilon=config.layer_norm_eps)
        self.dropout = layers.Dropout(config.hidden_dropout_prob)

    def call(self, hidden_states, input_tensor):
        hidden_states = self.dense(hidden_states)
        hidden_states = self.dropout(hidden_states)
        hidden_states = self.LayerNorm(hidden_states + input_tensor)
        return hidden_states


class BertLayer(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output_ = BertOutput(config)

    def call(self, hidden_states):
        attention_output = self.attention(hidden_states)
        intermediate_output = self.intermediate(attention_output)
        layer_output = self.output_(intermediate_output, attention_output)
        return layer_output


class BertEncoder(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer = [BertLayer(config) for _ in range(config.num_hidden_layers)]

    def call(self, hidden_states):
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states)
        return hidden_states


class BertPooler(keras.layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(config.hidden_size)
        self.activation = layers.Activation("tanh")

    def call(self, hidden_states):
        # We "pool" the model by simply taking the hidden state corresponding
        # to the first token.
        first_token_tensor = hidden_states[..., 0]
        pooled_output = self.dense(first_token_tensor)
        pooled_output = self.activation(pooled_output)
        return pooled_output


class BertForSequenceClassification(keras.Model):
    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        config = config or BertConfig()
        self.num_labels = config.num_labels
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.dropout = layers.Dropout(config.hidden_dropout_prob)
        self.classifier = layers.Dense(config.num_labels)

    def call(self, input_ids):
        embedding_output = self.embeddings(input_ids)
        sequence_output = self.encoder(embedding_output)
        pooled_output = self.pooler(ops.moveaxis(sequence_output, 1, -1))
        pooled_output = self.dropout(pooled_output)
        logits = self.classifier(pooled_output)
        return logits
