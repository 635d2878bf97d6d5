"""An LSTM part-of-speech tagger (the PyTorch tutorial's model, batch first, two levels)."""
import keras
from keras import layers, ops


class LSTMTagger(keras.Model):
    def __init__(self, embedding_dim=16, hidden_dim=24, vocab_size=50, tagset_size=7, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.word_embeddings = layers.Embedding(vocab_size, embedding_dim)
        # the LSTM takes word embeddings and outputs hidden states of size hidden_dim
        self.lstm = keras.Sequential([layers.LSTM(hidden_dim, return_sequences=True), layers.LSTM(hidden_dim, return_sequences=True)])
        self.hidden2tag = layers.Dense(tagset_size)

    def call(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out = self.lstm(embeds)
        tag_space = self.hidden2tag(lstm_out)
        return ops.log_softmax(tag_space, axis=-1)
